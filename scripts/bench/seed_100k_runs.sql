-- 100,000 finished runs, each with metric m1 (history and latest value) and param p, in one new
-- experiment, written straight into the database of either server (psql -v server=trellis|mlflow
-- -v exp=<experiment id> -f this). Creating them through runs/create would take MLflow's server
-- about 15 minutes; both servers get the same rows.
\if :{?server}
\else
  \echo 'usage: psql -v server=trellis|mlflow -v exp=<experiment id> -f seed_100k_runs.sql'
  \quit
\endif
SELECT :'server' = 'trellis' AS is_trellis \gset
\if :is_trellis
INSERT INTO runs (run_uuid, experiment_id, name, user_name, status, start_time, end_time)
SELECT md5('run' || g), :exp, 'r' || g, 'bench', 'FINISHED', g, g FROM generate_series(1, 100000) g;
INSERT INTO run_metric_chunks (run_id, key, first_step, first_timestamp, last_step, last_timestamp, value_count, vals, timestamps, steps)
SELECT id, 'm1', 0, start_time, 0, start_time, 1, ARRAY[(start_time % 97)::float8], ARRAY[start_time], ARRAY[0::int8] FROM runs WHERE experiment_id = :exp;
INSERT INTO run_latest_metrics (run_id, experiment_id, run_start_time, key, value, timestamp, step)
SELECT id, :exp, start_time, 'm1', (start_time % 97), start_time, 0 FROM runs WHERE experiment_id = :exp;
INSERT INTO run_params (run_id, key, value) SELECT id, 'p', (start_time % 5)::text FROM runs WHERE experiment_id = :exp;
ANALYZE runs; ANALYZE run_metric_chunks; ANALYZE run_latest_metrics; ANALYZE run_params;
\else
INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time, end_time,
                  source_version, lifecycle_stage, artifact_uri, experiment_id)
SELECT md5('run' || g), 'r' || g, 'LOCAL', '', '', 'bench', 'FINISHED', g, g, '', 'active',
       'mlflow-artifacts:/' || :exp || '/' || md5('run' || g) || '/artifacts', :exp FROM generate_series(1, 100000) g;
INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)
SELECT 'm1', (start_time % 97), start_time, run_uuid, 0, false FROM runs WHERE experiment_id = :exp;
INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)
SELECT 'm1', (start_time % 97), start_time, 0, false, run_uuid FROM runs WHERE experiment_id = :exp;
INSERT INTO params (key, value, run_uuid) SELECT 'p', (start_time % 5)::text, run_uuid FROM runs WHERE experiment_id = :exp;
ANALYZE runs; ANALYZE metrics; ANALYZE latest_metrics; ANALYZE params;
\endif
