-- The tool-call journal: a call's intent is committed before its tool runs
-- and its outcome right after, so a step replayed after a crash knows which
-- of its calls happened (outcome recorded), which may have happened
-- (started, no outcome) and which never started (no row).
CREATE TABLE tool_calls (
    call_id      TEXT    PRIMARY KEY,
    run_id       TEXT    NOT NULL REFERENCES runs (id),
    work_id      TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    tool         TEXT    NOT NULL,
    args_hash    TEXT    NOT NULL,
    -- The arguments, redacted.
    arguments    TEXT    NOT NULL,
    status       TEXT    NOT NULL
                 CHECK (status IN ('started', 'executed', 'failed', 'unknown')),
    -- How many times the tool was started under this id: more than one only
    -- for a tool that is safe to repeat, or one a human let run again.
    executions   INTEGER NOT NULL CHECK (executions > 0),
    -- The approval the last start used up, if one let it run.
    approval_id  TEXT,
    -- The outcome as the step's records need it again (redacted).
    result       TEXT,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER
) STRICT;

CREATE INDEX tool_calls_by_work ON tool_calls (run_id, work_id);

-- Which call wrote which artifact: `artifact.write` is keyed by its call id,
-- so running the same call again (a replay after a crash) changes nothing,
-- even when a later call of the step has pointed the path elsewhere since.
CREATE TABLE artifact_writes (
    call_id     TEXT    PRIMARY KEY,
    run_id      TEXT    NOT NULL REFERENCES runs (id),
    path        TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    written_at  INTEGER NOT NULL
) STRICT;
