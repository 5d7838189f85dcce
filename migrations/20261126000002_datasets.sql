-- Datasets: immutable versions of uploaded files, their schema and statistics.

-- Content-addressed blobs (dataset files, later artifacts and models). The object key is derived
-- from the hash; a row exists only once the object is stored.
CREATE TABLE blobs (
    sha256     TEXT PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size       BIGINT NOT NULL CHECK (size >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE datasets (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_by  BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    archived_at TIMESTAMPTZ,
    UNIQUE (project_id, name)
);

CREATE TABLE dataset_versions (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dataset_id        BIGINT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    version           INT NOT NULL CHECK (version >= 1),
    sha256            TEXT NOT NULL REFERENCES blobs(sha256),
    size              BIGINT NOT NULL,
    format            TEXT NOT NULL CHECK (format IN ('csv', 'parquet')),
    compression       TEXT CHECK (compression IN ('gzip')),
    filename          TEXT NOT NULL DEFAULT '',
    row_count         BIGINT,
    column_count      INT,
    status            TEXT NOT NULL DEFAULT 'profiling' CHECK (status IN ('profiling', 'ready', 'failed')),
    error             TEXT,
    schema            JSONB,
    statistics        JSONB,
    profile_job_id    BIGINT REFERENCES jobs(id) ON DELETE SET NULL,
    -- The earlier version this one was validated against (its statistics hold counts on that
    -- version's histogram bins).
    baseline_version  INT,
    uploaded_by       BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (dataset_id, version)
);
CREATE INDEX dataset_versions_sha_idx ON dataset_versions (sha256);
