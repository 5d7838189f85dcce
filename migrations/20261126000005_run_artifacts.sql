-- Files logged to runs (MLflow artifacts): a path within the run, pointing at a content-addressed blob.
CREATE TABLE run_artifacts (
    run_id     BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    path       TEXT NOT NULL,
    sha256     TEXT NOT NULL REFERENCES blobs(sha256),
    size       BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, path)
);
CREATE INDEX run_artifacts_by_blob ON run_artifacts (sha256);
