-- A run's revision: raised by every change to what the run shows (its row, latest metrics,
-- params, tags, dataset and model links), in the transaction that makes the change. A run read
-- at a revision is the same until the revision moves, so searches keep recently read runs in
-- memory by (id, revision) and read only the ids and revisions of a page (`core::run_cache`).
-- Triggers, so that no writer can forget it.
ALTER TABLE runs ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION trellis_raise_run_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.revision = OLD.revision THEN
        NEW.revision := OLD.revision + 1;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER runs_raise_revision BEFORE UPDATE ON runs
    FOR EACH ROW EXECUTE FUNCTION trellis_raise_run_revision();

-- One statement per changing statement of a run's parts, for the runs it touched. Once per
-- transaction is enough (its changes become visible together): a run row this transaction
-- already wrote (created, or its revision raised) is left as it is.
CREATE FUNCTION trellis_raise_revisions_of_changed_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE runs SET revision = revision + 1
     WHERE id IN (SELECT DISTINCT run_id FROM changed) AND xmin <> pg_current_xact_id()::xid;
    RETURN NULL;
END;
$$;

DO $$
DECLARE
    part TEXT;
BEGIN
    FOREACH part IN ARRAY ARRAY['run_latest_metrics', 'run_params', 'run_tags', 'run_dataset_inputs', 'run_model_inputs', 'run_model_outputs'] LOOP
        EXECUTE format('CREATE TRIGGER %1$s_raise_revision_insert AFTER INSERT ON %1$I REFERENCING NEW TABLE AS changed
                            FOR EACH STATEMENT EXECUTE FUNCTION trellis_raise_revisions_of_changed_runs()', part);
        EXECUTE format('CREATE TRIGGER %1$s_raise_revision_update AFTER UPDATE ON %1$I REFERENCING NEW TABLE AS changed
                            FOR EACH STATEMENT EXECUTE FUNCTION trellis_raise_revisions_of_changed_runs()', part);
        EXECUTE format('CREATE TRIGGER %1$s_raise_revision_delete AFTER DELETE ON %1$I REFERENCING OLD TABLE AS changed
                            FOR EACH STATEMENT EXECUTE FUNCTION trellis_raise_revisions_of_changed_runs()', part);
    END LOOP;
END;
$$;
