-- What endpoints answered. `prediction_logs` keeps the sampled requests and responses (the
-- endpoint's log_sample_rate); `prediction_stats` counts every request per deployed model and
-- minute, with latencies in fixed buckets (see core::serving::logging::LATENCY_BUCKETS_US), so
-- several serving processes add up. Deployed model ids are kept after undeploying.

CREATE TABLE prediction_logs (
    id                BIGSERIAL PRIMARY KEY,
    endpoint_id       BIGINT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    deployed_model_id BIGINT NOT NULL,
    model_version     TEXT NOT NULL,
    at                TIMESTAMPTZ NOT NULL,
    latency_us        BIGINT NOT NULL,
    ok                BOOLEAN NOT NULL,
    request           JSONB NOT NULL,
    response          JSONB NOT NULL
);
CREATE INDEX prediction_logs_by_endpoint ON prediction_logs (endpoint_id, at DESC);

CREATE TABLE prediction_stats (
    endpoint_id       BIGINT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    deployed_model_id BIGINT NOT NULL,
    model_version     TEXT NOT NULL,
    minute            TIMESTAMPTZ NOT NULL,
    requests          BIGINT NOT NULL,
    errors            BIGINT NOT NULL,
    latency_buckets   BIGINT[] NOT NULL,
    PRIMARY KEY (deployed_model_id, minute)
);
CREATE INDEX prediction_stats_by_endpoint ON prediction_stats (endpoint_id, minute);
