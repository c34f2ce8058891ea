-- An approval may gate a passed budget: an agent step whose budget says
-- `escalate` waits for a person before the model turn that would pass it.
-- SQLite cannot change a CHECK constraint in place, so the table is
-- rebuilt with the new kind allowed; rows, columns and indexes stay as
-- they were.
CREATE TABLE approvals_rebuilt (
    id          TEXT    PRIMARY KEY,
    run_id      TEXT    NOT NULL REFERENCES runs (id),
    work_id     TEXT    NOT NULL,
    node_id     TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('gate', 'tool_escalation', 'budget_escalation')),
    request     TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN
                    ('pending', 'approved', 'rejected', 'changes_requested', 'cancelled', 'expired')),
    decision    TEXT,
    comment     TEXT,
    decided_by  TEXT,
    decided_at  INTEGER,
    expires_at  INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    consumed_at INTEGER
) STRICT;

INSERT INTO approvals_rebuilt
    (id, run_id, work_id, node_id, kind, request, status, decision, comment, decided_by,
     decided_at, expires_at, created_at, updated_at, consumed_at)
SELECT id, run_id, work_id, node_id, kind, request, status, decision, comment, decided_by,
       decided_at, expires_at, created_at, updated_at, consumed_at
FROM approvals;

DROP TABLE approvals;
ALTER TABLE approvals_rebuilt RENAME TO approvals;

CREATE INDEX approvals_by_status ON approvals (status, created_at, id);
CREATE INDEX approvals_by_run ON approvals (run_id, created_at, id);
CREATE INDEX approvals_by_work ON approvals (run_id, work_id) WHERE status = 'pending';
