-- Hyperparameter searches: a parent run, and one child run and training job per trial. Only
-- `parallelism` trials are queued at a time; each finishing trial queues the next, and the last
-- one picks the best trial and ends the parent run.
CREATE TABLE tunings (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_run_id BIGINT NOT NULL UNIQUE REFERENCES runs(id) ON DELETE CASCADE,
    -- What every trial shares: the checked request, as the training module prepared it.
    request       JSONB NOT NULL,
    -- The trials' parameter values, in order: [{"name": value, …}, …].
    trials        JSONB NOT NULL,
    parallelism   INT NOT NULL CHECK (parallelism >= 1),
    metric        TEXT NOT NULL,
    maximize      BOOLEAN NOT NULL,
    started       INT NOT NULL DEFAULT 0,
    finished      INT NOT NULL DEFAULT 0,
    best_run_id   BIGINT REFERENCES runs(id) ON DELETE SET NULL,
    best_value    DOUBLE PRECISION,
    created_by    BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
