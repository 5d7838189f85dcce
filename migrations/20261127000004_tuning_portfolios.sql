-- Searches over several algorithms ("best model"): each trial's algorithm, and a time budget
-- after which no new trial is queued.
ALTER TABLE tunings ADD COLUMN algorithms JSONB;
ALTER TABLE tunings ADD COLUMN deadline TIMESTAMPTZ;
