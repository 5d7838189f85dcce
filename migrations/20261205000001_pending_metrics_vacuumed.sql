-- Folding deletes pending metric values about as fast as they are written, and every look at a
-- run's pending rows passes the deleted ones until a vacuum removes them. The server vacuums the
-- table after its own folds; autovacuum is told to take it after a few thousand deleted rows
-- (not a fifth of the table) and without pausing, for the rest (folds by readers).
ALTER TABLE run_metric_pending SET (autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_cost_delay = 0);

-- Nothing reads a pending row by its id: the fold takes a run's rows by run. Without it, a write
-- costs no sequence number and one index entry fewer.
ALTER TABLE run_metric_pending DROP COLUMN id;
