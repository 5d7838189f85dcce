-- Endpoints serve registered model versions. An endpoint belongs to a project and holds deployed
-- models, each a fixed version or following an alias, with a share of the traffic; the shares of an
-- endpoint's deployed models sum to 100 (kept by the code that changes them, in one transaction).

CREATE TABLE endpoints (
    id              BIGSERIAL PRIMARY KEY,
    project_id      BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    -- Share of requests whose request and response are kept (0 to 1).
    log_sample_rate DOUBLE PRECISION NOT NULL DEFAULT 0 CHECK (log_sample_rate >= 0 AND log_sample_rate <= 1),
    created_by      BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);

CREATE TABLE deployed_models (
    id              BIGSERIAL PRIMARY KEY,
    endpoint_id     BIGINT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    model_id        BIGINT NOT NULL REFERENCES registered_models(id) ON DELETE RESTRICT,
    -- Either a fixed version or an alias of the model that the deployment follows.
    version_id      BIGINT REFERENCES model_versions(id) ON DELETE RESTRICT,
    alias           TEXT,
    traffic_percent INTEGER NOT NULL CHECK (traffic_percent BETWEEN 0 AND 100),
    -- How `:explain` attributes predictions for this deployment.
    explanation     JSONB NOT NULL DEFAULT '{}',
    created_by      BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((version_id IS NULL) <> (alias IS NULL))
);
CREATE INDEX deployed_models_by_endpoint ON deployed_models (endpoint_id);
CREATE INDEX deployed_models_by_model ON deployed_models (model_id);
CREATE INDEX deployed_models_by_version ON deployed_models (version_id);
