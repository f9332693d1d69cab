-- Version 2: the shared storage (decisions 0060, 0062). Readings become unique per (meter,
-- attribute, capture time) with times in integer microseconds; events; collect jobs leased per meter.
-- PRAGMA user_version 100 makes the single-machine modules (AddressBook, schema 1 and 2 in
-- user_version) refuse the file instead of writing old rows.
DROP INDEX IF EXISTS readings_by_title;
ALTER TABLE readings RENAME TO readings_v1;
CREATE TABLE readings (
    system_title  BLOB NOT NULL,
    class_id      INTEGER NOT NULL,
    logical_name  TEXT NOT NULL,
    attribute_id  INTEGER NOT NULL,
    captured_us   INTEGER NOT NULL,
    value         BLOB,
    value_text    TEXT,
    unit          TEXT,
    error         TEXT,
    run_id        INTEGER,
    stored_us     INTEGER NOT NULL,
    PRIMARY KEY (system_title, class_id, logical_name, attribute_id, captured_us)
) WITHOUT ROWID;
INSERT OR IGNORE INTO readings
    SELECT system_title, class_id, logical_name, attribute_id, CAST(ROUND(at * 1000000) AS INTEGER),
           value, value_text, NULL, error, run_id, CAST(ROUND(at * 1000000) AS INTEGER)
    FROM readings_v1;
DROP TABLE readings_v1;
CREATE INDEX readings_by_run ON readings (run_id) WHERE run_id IS NOT NULL;
CREATE TABLE events (
    event_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    system_title  BLOB NOT NULL,
    at_us         INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    payload       BLOB NOT NULL,
    digest        BLOB NOT NULL,
    received_us   INTEGER NOT NULL,
    UNIQUE (system_title, at_us, kind, digest)
);
CREATE TABLE job_meters (
    system_title    BLOB PRIMARY KEY,
    shard           INTEGER NOT NULL,
    pending         INTEGER NOT NULL DEFAULT 0,
    not_before_us   INTEGER NOT NULL DEFAULT 0,
    owner           TEXT,
    lease_until_us  INTEGER
) WITHOUT ROWID;
CREATE INDEX job_meters_ready ON job_meters (not_before_us) WHERE pending > 0;
CREATE TABLE jobs (
    job_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        INTEGER NOT NULL,
    system_title  BLOB NOT NULL,
    attribute     TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'queued',
    owner         TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    created_us    INTEGER NOT NULL,
    finished_us   INTEGER,
    UNIQUE (run_id, system_title, attribute)
);
CREATE INDEX jobs_by_meter ON jobs (system_title, state);
CREATE INDEX jobs_by_run_state ON jobs (run_id, state);
PRAGMA user_version = 100;
