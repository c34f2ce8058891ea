-- Work the kill switch held since its last end: the executor that claims it
-- next tells the run it was released, so the step's timeout, stopped while
-- it was held, is armed again. The step's end clears it.
ALTER TABLE work ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1));
