-- Searches over several algorithms ("best model"): each trial's algorithm, and a time budget
-- after which no new trial is queued. `ended`: the search is over (all trials ended, or it was
-- cancelled); trials that end later change nothing.
ALTER TABLE tunings ADD COLUMN algorithms JSONB;
ALTER TABLE tunings ADD COLUMN deadline TIMESTAMPTZ;
ALTER TABLE tunings ADD COLUMN ended BOOLEAN NOT NULL DEFAULT FALSE;
