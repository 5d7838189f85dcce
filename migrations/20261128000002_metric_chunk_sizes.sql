-- How many values each chunk holds, read without fetching its arrays: a fold merges a key's
-- small chunks written last (a slow logger's, a few values per fold) with its new values, so
-- that a long history of slow logging stays in few chunks. Chunks written before have no count
-- (filling it in would read every array while the table is locked); the fold reads theirs
-- off the array when it needs it.
ALTER TABLE run_metric_chunks ADD COLUMN value_count INT;
CREATE INDEX run_metric_chunks_written ON run_metric_chunks (run_id, key, id);

-- The planner never filters on the value arrays, and gathering statistics on them (frequent
-- elements of every sampled array) cost autovacuum's ANALYZE a large share of the CPU while
-- metrics were logged fast: they are left out of statistics.
ALTER TABLE run_metric_chunks ALTER COLUMN vals SET STATISTICS 0, ALTER COLUMN timestamps SET STATISTICS 0,
    ALTER COLUMN steps SET STATISTICS 0;
ALTER TABLE run_metric_pending ALTER COLUMN keys SET STATISTICS 0, ALTER COLUMN vals SET STATISTICS 0,
    ALTER COLUMN timestamps SET STATISTICS 0, ALTER COLUMN steps SET STATISTICS 0;
