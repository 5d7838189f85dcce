-- Run searches order by a metric within an experiment. The latest values carry what such a
-- search needs of their run, which never changes once the run exists: its experiment and its
-- start time. One index then holds the values of each key per experiment in the search's whole
-- order (value, then newest run first), so a page of runs is read from it directly. It replaces
-- the index over every experiment's values of a key.
ALTER TABLE run_latest_metrics ADD COLUMN experiment_id BIGINT, ADD COLUMN run_start_time BIGINT;
UPDATE run_latest_metrics l SET experiment_id = r.experiment_id, run_start_time = r.start_time FROM runs r WHERE r.id = l.run_id;
-- Values of runs deleted before their metrics were (there is no row check).
DELETE FROM run_latest_metrics WHERE experiment_id IS NULL;
ALTER TABLE run_latest_metrics ALTER COLUMN experiment_id SET NOT NULL, ALTER COLUMN run_start_time SET NOT NULL;
DROP INDEX run_latest_metrics_by_value;
CREATE INDEX run_latest_metrics_by_value ON run_latest_metrics (experiment_id, key, value, run_start_time, run_id);
