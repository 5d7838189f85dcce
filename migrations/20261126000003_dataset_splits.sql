-- How a dataset version is split into train / validation / test. Row assignment is derived
-- deterministically (seeded hash of the row number, or a column's values), so it is not stored.
CREATE TABLE dataset_splits (
    version_id  BIGINT PRIMARY KEY REFERENCES dataset_versions(id) ON DELETE CASCADE,
    method      TEXT NOT NULL CHECK (method IN ('random', 'column')),
    seed        BIGINT,
    fractions   JSONB,
    split_column TEXT,
    counts      JSONB NOT NULL,
    created_by  BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
