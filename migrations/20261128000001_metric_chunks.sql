-- Metric histories kept in chunks instead of a row per value.
--
-- A write (one logging request, or several to the same run combined) appends one row to
-- `run_metric_pending` holding its values as arrays. Folding moves a run's pending rows into
-- `run_metric_chunks`, one row per key holding that key's values in history order
-- (step, timestamp, value), and updates `run_latest_metrics` once per key. Folding happens in the
-- background and before anything reads a run's metrics, so reads see every committed write.
CREATE TABLE run_metric_pending (
    id            BIGSERIAL PRIMARY KEY,
    run_id        BIGINT NOT NULL,
    experiment_id BIGINT NOT NULL,
    keys          TEXT[] NOT NULL,
    vals          FLOAT8[] NOT NULL,
    timestamps    INT8[] NOT NULL,
    steps         INT8[] NOT NULL
);
CREATE INDEX run_metric_pending_by_run ON run_metric_pending (run_id);
CREATE INDEX run_metric_pending_by_experiment ON run_metric_pending (experiment_id);

-- A key's values from one fold, sorted; `first_*`/`last_*` are its first and last (step,
-- timestamp), so a page of history reads the chunks it needs and no others. Chunks of a key may
-- overlap (values logged out of order); readers merge them.
CREATE TABLE run_metric_chunks (
    id              BIGINT GENERATED ALWAYS AS IDENTITY,
    run_id          BIGINT NOT NULL,
    key             TEXT NOT NULL,
    first_step      BIGINT NOT NULL,
    first_timestamp BIGINT NOT NULL,
    last_step       BIGINT NOT NULL,
    last_timestamp  BIGINT NOT NULL,
    vals            FLOAT8[] NOT NULL,
    timestamps      INT8[] NOT NULL,
    steps           INT8[] NOT NULL
);
CREATE INDEX run_metric_chunks_history ON run_metric_chunks (run_id, key, first_step, first_timestamp, id);

-- Numbers (and repeated short keys) hardly compress; stored out of line as they are, they are
-- written and read without compressing.
ALTER TABLE run_metric_pending ALTER COLUMN keys SET STORAGE EXTERNAL, ALTER COLUMN vals SET STORAGE EXTERNAL, ALTER COLUMN timestamps SET STORAGE EXTERNAL,
    ALTER COLUMN steps SET STORAGE EXTERNAL;
ALTER TABLE run_metric_chunks ALTER COLUMN vals SET STORAGE EXTERNAL, ALTER COLUMN timestamps SET STORAGE EXTERNAL,
    ALTER COLUMN steps SET STORAGE EXTERNAL;

-- The existing histories, in chunks of up to 8,192 values.
INSERT INTO run_metric_chunks (run_id, key, first_step, first_timestamp, last_step, last_timestamp, vals, timestamps, steps)
SELECT run_id, key, s[1], t[1], s[cardinality(s)], t[cardinality(t)], v, t, s
  FROM (SELECT run_id, key,
               array_agg(value ORDER BY step, timestamp, value) v,
               array_agg(timestamp ORDER BY step, timestamp, value) t,
               array_agg(step ORDER BY step, timestamp, value) s
          FROM (SELECT m.*, (row_number() OVER (PARTITION BY run_id, key ORDER BY step, timestamp, value) - 1) / 8192 AS part
                  FROM run_metrics m JOIN runs r ON r.id = m.run_id) m
         GROUP BY run_id, key, part) c;
DROP TABLE run_metrics;

-- Every value of every run, pending or folded, in no particular order (for inspection).
CREATE VIEW run_metric_values AS
    SELECT c.run_id, c.key, u.value, u.timestamp, u.step
      FROM run_metric_chunks c, unnest(c.vals, c.timestamps, c.steps) AS u(value, timestamp, step)
    UNION ALL
    SELECT p.run_id, u.key, u.value, u.timestamp, u.step
      FROM run_metric_pending p, unnest(p.keys, p.vals, p.timestamps, p.steps) AS u(key, value, timestamp, step);

-- A fold locks the rows of the runs it folds, so deleting a run waits for a fold under way and
-- then deletes what it wrote.
CREATE OR REPLACE FUNCTION delete_metrics_of_deleted_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM run_metric_pending m USING deleted_runs d WHERE m.run_id = d.id;
    DELETE FROM run_metric_chunks m USING deleted_runs d WHERE m.run_id = d.id;
    DELETE FROM run_latest_metrics m USING deleted_runs d WHERE m.run_id = d.id;
    RETURN NULL;
END;
$$;
