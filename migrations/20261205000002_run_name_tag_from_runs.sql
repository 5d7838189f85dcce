-- A run's `mlflow.runName` tag is its name: MLflow keeps the two equal (a new run gets the tag
-- with its name, renaming a run sets the tag, setting the tag renames the run) and only lets
-- the tag be deleted on its own. So the tag is not stored as a row of `run_tags` (every new run
-- wrote its name twice); `runs.name_tagged` says whether the run has it, and readers derive it
-- from `runs.name`.
ALTER TABLE runs ADD COLUMN name_tagged BOOLEAN NOT NULL DEFAULT true;

-- Where a stored tag differs from the name (set on its own before), the tag wins: it is what
-- MLflow's clients read and search.
UPDATE runs r SET name = t.value
  FROM run_tags t
 WHERE t.run_id = r.id AND t.key = 'mlflow.runName' AND t.value <> r.name AND btrim(t.value) <> '';
UPDATE runs r SET name_tagged = false
 WHERE NOT EXISTS (SELECT 1 FROM run_tags t WHERE t.run_id = r.id AND t.key = 'mlflow.runName');
DELETE FROM run_tags WHERE key = 'mlflow.runName';

ALTER TABLE run_tags ADD CONSTRAINT run_tags_name_is_on_runs CHECK (key <> 'mlflow.runName');
