-- Multipart artifact uploads (MLflow's proxied multipart upload): an upload names the artifact
-- it will become; its parts wait in temporary files until it is completed or aborted.
CREATE TABLE artifact_uploads (
    upload_id  TEXT PRIMARY KEY,
    artifact   TEXT NOT NULL,
    num_parts  INTEGER NOT NULL CHECK (num_parts BETWEEN 1 AND 10000),
    created_by BIGINT REFERENCES users(id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE artifact_upload_parts (
    upload_id   TEXT NOT NULL REFERENCES artifact_uploads(upload_id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    temp_path   TEXT NOT NULL,
    size        BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
