-- Batch predictions: a dataset version through a registered model version into a CSV or
-- Parquet file (the inputs with predictions, optionally attributions), made by a job.
CREATE TABLE batch_predictions (
    id                 BIGSERIAL PRIMARY KEY,
    project_id         BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    model_version_id   BIGINT REFERENCES model_versions(id) ON DELETE SET NULL,
    model_label        TEXT NOT NULL,
    dataset_version_id BIGINT REFERENCES dataset_versions(id) ON DELETE SET NULL,
    dataset_label      TEXT NOT NULL,
    output_format      TEXT NOT NULL CHECK (output_format IN ('csv', 'parquet')),
    explain            BOOLEAN NOT NULL DEFAULT FALSE,
    job_id             BIGINT REFERENCES jobs(id) ON DELETE SET NULL,
    output_sha256      TEXT REFERENCES blobs(sha256),
    output_size        BIGINT,
    rows               BIGINT,
    created_by         BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX batch_predictions_by_project ON batch_predictions (project_id, created_at DESC);
CREATE INDEX batch_predictions_by_blob ON batch_predictions (output_sha256);
