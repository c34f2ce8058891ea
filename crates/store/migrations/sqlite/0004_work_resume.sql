-- Where a paused agent step stands (its conversation and the calls it paused
-- on, redacted), so that it goes on from there once a person has decided or
-- answered instead of starting over. NULL for work that never paused.
ALTER TABLE work ADD COLUMN resume TEXT;
