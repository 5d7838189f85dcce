-- Tokens that Trellis issues to a custom training job for its run of the MLflow API: they act
-- as the user who started the job, expire with the job's time limit, are revoked when it ends,
-- and are not listed among the user's own tokens.
ALTER TABLE api_tokens ADD COLUMN job_id BIGINT REFERENCES jobs(id) ON DELETE CASCADE;
CREATE INDEX api_tokens_job_idx ON api_tokens (job_id) WHERE job_id IS NOT NULL;
