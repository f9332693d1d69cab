-- Version 2: the shared storage (decisions 0060, 0062). Readings become unique per (meter,
-- attribute, capture time) with times in integer microseconds; events; collect jobs leased per meter.
DROP INDEX IF EXISTS readings_by_title;
ALTER TABLE readings RENAME TO readings_v1;
CREATE TABLE readings (
    system_title  bytea NOT NULL,
    class_id      integer NOT NULL,
    logical_name  text COLLATE "C" NOT NULL,
    attribute_id  integer NOT NULL,
    captured_us   bigint NOT NULL,
    value         bytea,
    value_text    text,
    unit          text,
    error         text,
    run_id        bigint,
    stored_us     bigint NOT NULL,
    PRIMARY KEY (system_title, class_id, logical_name, attribute_id, captured_us)
);
INSERT INTO readings
    SELECT system_title, class_id, logical_name, attribute_id, round(at * 1000000)::bigint,
           value, value_text, NULL, error, run_id, round(at * 1000000)::bigint
    FROM readings_v1
    ON CONFLICT DO NOTHING;
DROP TABLE readings_v1;
CREATE INDEX readings_by_run ON readings (run_id) WHERE run_id IS NOT NULL;
CREATE TABLE events (
    event_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    system_title  bytea NOT NULL,
    at_us         bigint NOT NULL,
    kind          text COLLATE "C" NOT NULL,
    payload       bytea NOT NULL,
    digest        bytea NOT NULL,
    received_us   bigint NOT NULL,
    UNIQUE (system_title, at_us, kind, digest)
);
CREATE TABLE job_meters (
    system_title    bytea PRIMARY KEY,
    shard           integer NOT NULL,
    pending         integer NOT NULL DEFAULT 0,
    not_before_us   bigint NOT NULL DEFAULT 0,
    owner           text,
    lease_until_us  bigint
);
CREATE INDEX job_meters_ready ON job_meters (not_before_us) WHERE pending > 0;
CREATE TABLE jobs (
    job_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        bigint NOT NULL,
    system_title  bytea NOT NULL,
    attribute     text COLLATE "C" NOT NULL,
    state         text NOT NULL DEFAULT 'queued',
    owner         text,
    attempts      integer NOT NULL DEFAULT 0,
    error         text,
    created_us    bigint NOT NULL,
    finished_us   bigint,
    UNIQUE (run_id, system_title, attribute)
);
CREATE INDEX jobs_by_meter ON jobs (system_title, state);
CREATE INDEX jobs_by_run_state ON jobs (run_id, state);
-- runs copied in from a single-machine file keep their ids: continue after them
SELECT setval(pg_get_serial_sequence('runs', 'run_id'), COALESCE(MAX(run_id), 0) + 1, false) FROM runs;
