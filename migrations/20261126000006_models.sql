-- Models, in MLflow's model: logged models (MLflow 3: a model logged from a run, with its own
-- artifacts, params, tags and metrics), runs' model inputs and outputs and dataset inputs, and
-- the registry (registered models per project, numbered versions, tags, aliases).
-- Times are milliseconds since the epoch, as MLflow's API has them.

CREATE TABLE logged_models (
    id                BIGSERIAL PRIMARY KEY,
    model_uuid        TEXT NOT NULL UNIQUE,
    experiment_id     BIGINT NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    model_type        TEXT NOT NULL DEFAULT '',
    source_run_id     BIGINT REFERENCES runs(id) ON DELETE SET NULL,
    status            TEXT NOT NULL DEFAULT 'LOGGED_MODEL_PENDING'
                      CHECK (status IN ('LOGGED_MODEL_PENDING', 'LOGGED_MODEL_READY', 'LOGGED_MODEL_UPLOAD_FAILED')),
    status_message    TEXT NOT NULL DEFAULT '',
    created_by        BIGINT REFERENCES users(id) ON DELETE SET NULL,
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    lifecycle_stage   TEXT NOT NULL DEFAULT 'active' CHECK (lifecycle_stage IN ('active', 'deleted'))
);
CREATE INDEX logged_models_by_experiment ON logged_models (experiment_id, creation_time DESC);
CREATE INDEX logged_models_by_run ON logged_models (source_run_id);

CREATE TABLE logged_model_params (
    model_id BIGINT NOT NULL REFERENCES logged_models(id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);

CREATE TABLE logged_model_tags (
    model_id BIGINT NOT NULL REFERENCES logged_models(id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);

-- Metrics logged for a model (from a run, at a step); the run's history holds them too.
CREATE TABLE logged_model_metrics (
    model_id  BIGINT NOT NULL REFERENCES logged_models(id) ON DELETE CASCADE,
    run_id    BIGINT REFERENCES runs(id) ON DELETE SET NULL,
    key       TEXT NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    timestamp BIGINT NOT NULL,
    step      BIGINT NOT NULL
);
CREATE INDEX logged_model_metrics_by_model ON logged_model_metrics (model_id, key, step);

CREATE TABLE logged_model_artifacts (
    model_id   BIGINT NOT NULL REFERENCES logged_models(id) ON DELETE CASCADE,
    path       TEXT NOT NULL,
    sha256     TEXT NOT NULL REFERENCES blobs(sha256),
    size       BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (model_id, path)
);
CREATE INDEX logged_model_artifacts_by_blob ON logged_model_artifacts (sha256);

-- A run's outputs (models it logged, at a step) and model inputs.
CREATE TABLE run_model_outputs (
    run_id   BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    model_id BIGINT NOT NULL REFERENCES logged_models(id) ON DELETE CASCADE,
    step     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, model_id)
);

CREATE TABLE run_model_inputs (
    run_id   BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    model_id BIGINT NOT NULL REFERENCES logged_models(id) ON DELETE CASCADE,
    PRIMARY KEY (run_id, model_id)
);

-- Datasets a run used (MLflow's log-inputs). `dataset_version_id` links to a Trellis dataset
-- version when the input names one.
CREATE TABLE run_dataset_inputs (
    run_id             BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    digest             TEXT NOT NULL,
    source_type        TEXT NOT NULL DEFAULT '',
    source             TEXT NOT NULL DEFAULT '',
    schema             TEXT NOT NULL DEFAULT '',
    profile            TEXT NOT NULL DEFAULT '',
    tags               JSONB NOT NULL DEFAULT '[]',
    dataset_version_id BIGINT REFERENCES dataset_versions(id) ON DELETE SET NULL,
    PRIMARY KEY (run_id, name, digest)
);

CREATE TABLE registered_models (
    id                BIGSERIAL PRIMARY KEY,
    project_id        BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    created_by        BIGINT REFERENCES users(id) ON DELETE SET NULL,
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE registered_model_tags (
    model_id BIGINT NOT NULL REFERENCES registered_models(id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);

CREATE TABLE model_versions (
    id                BIGSERIAL PRIMARY KEY,
    model_id          BIGINT NOT NULL REFERENCES registered_models(id) ON DELETE CASCADE,
    version           INTEGER NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    -- Where the client said the model is, and where its files are (for get-download-uri).
    source            TEXT NOT NULL,
    storage_location  TEXT NOT NULL,
    run_id            BIGINT REFERENCES runs(id) ON DELETE SET NULL,
    run_uuid          TEXT NOT NULL DEFAULT '',
    logged_model_id   BIGINT REFERENCES logged_models(id) ON DELETE SET NULL,
    logged_model_uuid TEXT NOT NULL DEFAULT '',
    run_link          TEXT NOT NULL DEFAULT '',
    current_stage     TEXT NOT NULL DEFAULT 'None'
                      CHECK (current_stage IN ('None', 'Staging', 'Production', 'Archived')),
    status            TEXT NOT NULL DEFAULT 'READY'
                      CHECK (status IN ('PENDING_REGISTRATION', 'FAILED_REGISTRATION', 'READY')),
    status_message    TEXT NOT NULL DEFAULT '',
    created_by        BIGINT REFERENCES users(id) ON DELETE SET NULL,
    user_name         TEXT NOT NULL DEFAULT '',
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    UNIQUE (model_id, version)
);
CREATE INDEX model_versions_by_run ON model_versions (run_id);
CREATE INDEX model_versions_by_logged_model ON model_versions (logged_model_id);

CREATE TABLE model_version_tags (
    version_id BIGINT NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (version_id, key)
);

-- An alias names one version of a model; moving it is one UPDATE.
CREATE TABLE registered_model_aliases (
    model_id   BIGINT NOT NULL REFERENCES registered_models(id) ON DELETE CASCADE,
    alias      TEXT NOT NULL,
    version_id BIGINT NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
    PRIMARY KEY (model_id, alias)
);
