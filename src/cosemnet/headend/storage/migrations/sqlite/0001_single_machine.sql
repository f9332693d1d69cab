-- Version 1: the single-machine schema of the address book (decision 0024) and the head-end store
-- (decision 0027), as those modules created it. Every statement is IF NOT EXISTS so that a file of
-- that time is adopted as it is.
CREATE TABLE IF NOT EXISTS devices (
    system_title   BLOB PRIMARY KEY,
    addresses      BLOB NOT NULL,
    wport          INTEGER NOT NULL,
    udp_port       INTEGER NOT NULL,
    border_router  BLOB,
    first_seen     REAL NOT NULL,
    last_seen      REAL NOT NULL,
    last_sequence  INTEGER NOT NULL,
    messages       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS addresses (
    address        BLOB NOT NULL,
    system_title   BLOB NOT NULL,
    prefix64       BLOB NOT NULL,
    PRIMARY KEY (address, system_title)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS addresses_by_title ON addresses (system_title);
CREATE INDEX IF NOT EXISTS addresses_by_prefix ON addresses (prefix64);
CREATE TABLE IF NOT EXISTS history (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    system_title     BLOB NOT NULL,
    at               REAL NOT NULL,
    reason           INTEGER NOT NULL,
    sequence_number  INTEGER NOT NULL,
    old_binding      BLOB,
    new_binding      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_title ON history (system_title, id);
CREATE TABLE IF NOT EXISTS invocation_counters (
    system_title   BLOB NOT NULL,
    key_label      TEXT NOT NULL,
    ceiling        INTEGER NOT NULL,
    PRIMARY KEY (system_title, key_label)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS received_counters (
    system_title   BLOB NOT NULL,
    key_role       INTEGER NOT NULL,
    last_received  INTEGER NOT NULL,
    PRIMARY KEY (system_title, key_role)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    run_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    started     REAL NOT NULL,
    attributes  TEXT NOT NULL,
    meters      INTEGER NOT NULL DEFAULT 0,
    answered    INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    finished    REAL
);
CREATE TABLE IF NOT EXISTS readings (
    run_id        INTEGER NOT NULL,
    system_title  BLOB NOT NULL,
    class_id      INTEGER NOT NULL,
    logical_name  TEXT NOT NULL,
    attribute_id  INTEGER NOT NULL,
    at            REAL NOT NULL,
    value         BLOB,
    value_text    TEXT,
    error         TEXT
);
CREATE INDEX IF NOT EXISTS readings_by_title ON readings (system_title, run_id);
CREATE TABLE IF NOT EXISTS headend_associations (
    system_title         BLOB PRIMARY KEY,
    conformance          INTEGER NOT NULL,
    server_max_pdu_size  INTEGER NOT NULL,
    vaa_name             INTEGER NOT NULL,
    server_system_title  BLOB,
    associated_at        REAL NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 1;
