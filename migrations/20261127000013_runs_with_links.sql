-- Whether a run ever had an input or output recorded (datasets, models used, models logged).
-- Loading runs skips the three link tables for the runs without (most runs). Set by triggers
-- whichever code writes the links; never cleared (links only go when their run does).
ALTER TABLE runs ADD COLUMN has_links BOOLEAN NOT NULL DEFAULT false;
UPDATE runs SET has_links = true WHERE id IN (
    SELECT run_id FROM run_dataset_inputs UNION SELECT run_id FROM run_model_inputs UNION SELECT run_id FROM run_model_outputs);

CREATE FUNCTION trellis_mark_runs_with_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE runs SET has_links = true WHERE id IN (SELECT run_id FROM new_links) AND NOT has_links;
    RETURN NULL;
END;
$$;

CREATE TRIGGER run_dataset_inputs_mark_run AFTER INSERT ON run_dataset_inputs
    REFERENCING NEW TABLE AS new_links FOR EACH STATEMENT EXECUTE FUNCTION trellis_mark_runs_with_links();
CREATE TRIGGER run_model_inputs_mark_run AFTER INSERT ON run_model_inputs
    REFERENCING NEW TABLE AS new_links FOR EACH STATEMENT EXECUTE FUNCTION trellis_mark_runs_with_links();
CREATE TRIGGER run_model_outputs_mark_run AFTER INSERT ON run_model_outputs
    REFERENCING NEW TABLE AS new_links FOR EACH STATEMENT EXECUTE FUNCTION trellis_mark_runs_with_links();
