-- The runs whose parts a statement changed get their revision raised one at a time, each by its
-- primary key. The single UPDATE before joined the changed rows to `runs`; its plan, made once
-- per connection, could stay a sequential scan of all runs (chosen while the table was small),
-- so that every statement writing tags or metrics read the whole table.
CREATE OR REPLACE FUNCTION trellis_raise_revisions_of_changed_runs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed_run BIGINT;
BEGIN
    FOR changed_run IN SELECT DISTINCT run_id FROM changed LOOP
        UPDATE runs SET revision = revision + 1 WHERE id = changed_run AND xmin <> pg_current_xact_id()::xid;
    END LOOP;
    RETURN NULL;
END;
$$;
