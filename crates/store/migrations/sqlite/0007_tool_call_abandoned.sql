-- A call whose step ended without repeating it is settled as `abandoned`
-- (its outcome stays unknown), so the journal keeps no call open after its
-- step ended. SQLite cannot change a CHECK constraint in place: the table is
-- copied, keeping each call's rowid (the order calls were first begun).
CREATE TABLE tool_calls_next (
    call_id      TEXT    PRIMARY KEY,
    run_id       TEXT    NOT NULL REFERENCES runs (id),
    work_id      TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    tool         TEXT    NOT NULL,
    args_hash    TEXT    NOT NULL,
    -- The arguments, redacted.
    arguments    TEXT    NOT NULL,
    status       TEXT    NOT NULL
                 CHECK (status IN ('started', 'executed', 'failed', 'unknown', 'abandoned')),
    -- How many times the tool was started under this id: more than one only
    -- for a tool that is safe to repeat, or one a human let run again.
    executions   INTEGER NOT NULL CHECK (executions > 0),
    -- The approval the last start used up, if one let it run.
    approval_id  TEXT,
    -- The outcome as the step's records need it again (redacted); none for
    -- an abandoned call.
    result       TEXT,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER
) STRICT;

INSERT INTO tool_calls_next (rowid, call_id, run_id, work_id, attempt, tool, args_hash,
    arguments, status, executions, approval_id, result, started_at, finished_at)
SELECT rowid, call_id, run_id, work_id, attempt, tool, args_hash,
    arguments, status, executions, approval_id, result, started_at, finished_at
FROM tool_calls ORDER BY rowid;

DROP TABLE tool_calls;
ALTER TABLE tool_calls_next RENAME TO tool_calls;
CREATE INDEX tool_calls_by_work ON tool_calls (run_id, work_id);
