-- A batch prediction may read an uploaded file instead of a dataset version: the file is kept
-- as a blob (freed with the others when nothing refers to it).
ALTER TABLE batch_predictions
    ADD COLUMN input_sha256      TEXT REFERENCES blobs(sha256),
    ADD COLUMN input_format      TEXT CHECK (input_format IN ('csv', 'parquet')),
    ADD COLUMN input_compression TEXT,
    ADD COLUMN input_size        BIGINT,
    ADD COLUMN input_rows        BIGINT;
CREATE INDEX batch_predictions_by_input_blob ON batch_predictions (input_sha256);
