-- Metric rows are written only after the application has found their run (active, in a
-- project the caller may write to); the per-row foreign-key check on the run cost more than
-- the insert itself. Deleting runs still deletes their metrics, once per deleting statement.
ALTER TABLE run_metrics DROP CONSTRAINT run_metrics_run_id_fkey;
ALTER TABLE run_latest_metrics DROP CONSTRAINT run_latest_metrics_run_id_fkey;

CREATE FUNCTION delete_metrics_of_deleted_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM run_metrics m USING deleted_runs d WHERE m.run_id = d.id;
    DELETE FROM run_latest_metrics m USING deleted_runs d WHERE m.run_id = d.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER runs_delete_metrics AFTER DELETE ON runs
    REFERENCING OLD TABLE AS deleted_runs
    FOR EACH STATEMENT EXECUTE FUNCTION delete_metrics_of_deleted_runs();
