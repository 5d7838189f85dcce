-- Experiment tracking (MLflow's model): experiments in projects, runs with params, metrics
-- (full history plus the latest value per key) and tags. Times are milliseconds since the epoch,
-- as MLflow's API has them.

CREATE TABLE experiments (
    id               BIGSERIAL PRIMARY KEY,
    project_id       BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    lifecycle_stage  TEXT NOT NULL DEFAULT 'active' CHECK (lifecycle_stage IN ('active', 'deleted')),
    created_by       BIGINT REFERENCES users(id) ON DELETE SET NULL,
    creation_time    BIGINT NOT NULL,
    last_update_time BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE experiment_tags (
    experiment_id BIGINT NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    PRIMARY KEY (experiment_id, key)
);

CREATE TABLE runs (
    id              BIGSERIAL PRIMARY KEY,
    run_uuid        TEXT NOT NULL UNIQUE,
    experiment_id   BIGINT NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    user_id         BIGINT REFERENCES users(id) ON DELETE SET NULL,
    user_name       TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT 'RUNNING'
                    CHECK (status IN ('RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED')),
    start_time      BIGINT NOT NULL,
    end_time        BIGINT,
    lifecycle_stage TEXT NOT NULL DEFAULT 'active' CHECK (lifecycle_stage IN ('active', 'deleted')),
    deleted_time    BIGINT
);
CREATE INDEX runs_by_experiment ON runs (experiment_id, start_time DESC, id DESC);

CREATE TABLE run_params (
    run_id BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE run_tags (
    run_id BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);

-- Every logged value; NaN and infinities are kept as such (double precision holds them).
CREATE TABLE run_metrics (
    run_id    BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    timestamp BIGINT NOT NULL,
    step      BIGINT NOT NULL
);
CREATE INDEX run_metrics_history ON run_metrics (run_id, key, step, timestamp);

-- The latest value per key: the greatest (step, timestamp, value), as MLflow defines it.
CREATE TABLE run_latest_metrics (
    run_id    BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    timestamp BIGINT NOT NULL,
    step      BIGINT NOT NULL,
    PRIMARY KEY (run_id, key)
);
