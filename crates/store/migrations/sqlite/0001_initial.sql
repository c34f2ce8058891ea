-- Agentwerke store, SQLite dialect. Times are INTEGER milliseconds since the
-- Unix epoch (UTC); JSON columns are TEXT written by serde_json.

CREATE TABLE workflows (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE workflow_versions (
    workflow_id   TEXT    NOT NULL REFERENCES workflows (id),
    version       INTEGER NOT NULL CHECK (version > 0),
    name          TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('draft', 'published')),
    bpmn_xml      TEXT    NOT NULL,
    bpmn_sha256   TEXT    NOT NULL,
    diagnostics   TEXT    NOT NULL,
    created_by    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    published_by  TEXT,
    published_at  INTEGER,
    PRIMARY KEY (workflow_id, version)
) STRICT;

-- Published versions are immutable: runs and evidence cite their hash.
CREATE TRIGGER workflow_versions_published_immutable
BEFORE UPDATE ON workflow_versions
WHEN OLD.status = 'published'
BEGIN
    SELECT RAISE(ABORT, 'agentwerke.immutable_version');
END;

CREATE TRIGGER workflow_versions_published_undeletable
BEFORE DELETE ON workflow_versions
WHEN OLD.status = 'published'
BEGIN
    SELECT RAISE(ABORT, 'agentwerke.immutable_version');
END;

CREATE TABLE runs (
    id                TEXT    PRIMARY KEY,
    workflow_id       TEXT    NOT NULL,
    workflow_version  INTEGER NOT NULL,
    bpmn_sha256       TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    state_version     INTEGER NOT NULL DEFAULT 0,
    requested_by      TEXT    NOT NULL,
    inputs            TEXT    NOT NULL,
    risk_level        TEXT,
    halted_reason     TEXT,
    notes             TEXT,
    lease_owner       TEXT,
    lease_until       INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    completed_at      INTEGER,
    FOREIGN KEY (workflow_id, workflow_version) REFERENCES workflow_versions (workflow_id, version)
) STRICT;

CREATE INDEX runs_newest ON runs (created_at DESC, id DESC);
CREATE INDEX runs_by_status ON runs (status, created_at DESC, id DESC);
CREATE INDEX runs_by_workflow ON runs (workflow_id, created_at DESC, id DESC);

-- Events waiting to be applied to a run. A row is never deleted: processed_at
-- marks it applied, which is what makes a crash between claim and commit safe.
CREATE TABLE inbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        TEXT    NOT NULL REFERENCES runs (id),
    event         TEXT    NOT NULL,
    dedup_key     TEXT    UNIQUE,
    created_at    INTEGER NOT NULL,
    processed_at  INTEGER
) STRICT;

CREATE INDEX inbox_unprocessed ON inbox (run_id, id) WHERE processed_at IS NULL;

-- Agent work executed outside the engine, leased to one executor at a time.
CREATE TABLE work (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id         TEXT    NOT NULL REFERENCES runs (id),
    work_id        TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    payload        TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('pending', 'done', 'cancelled')),
    attempt_count  INTEGER NOT NULL DEFAULT 0,
    lease_owner    TEXT,
    lease_until    INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    completed_at   INTEGER,
    UNIQUE (run_id, work_id)
) STRICT;

CREATE INDEX work_pending ON work (lease_until, id) WHERE status = 'pending';

CREATE TABLE timers (
    run_id      TEXT    NOT NULL REFERENCES runs (id),
    timer_id    TEXT    NOT NULL,
    node_id     TEXT    NOT NULL,
    due_at      INTEGER NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('scheduled', 'fired', 'cancelled')),
    created_at  INTEGER NOT NULL,
    fired_at    INTEGER,
    PRIMARY KEY (run_id, timer_id)
) STRICT;

CREATE INDEX timers_due ON timers (due_at) WHERE status = 'scheduled';

CREATE TABLE approvals (
    id          TEXT    PRIMARY KEY,
    run_id      TEXT    NOT NULL REFERENCES runs (id),
    work_id     TEXT    NOT NULL,
    node_id     TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('gate', 'tool_escalation')),
    request     TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN
                    ('pending', 'approved', 'rejected', 'changes_requested', 'cancelled', 'expired')),
    decision    TEXT,
    comment     TEXT,
    decided_by  TEXT,
    decided_at  INTEGER,
    expires_at  INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX approvals_by_status ON approvals (status, created_at, id);
CREATE INDEX approvals_by_run ON approvals (run_id, created_at, id);
CREATE INDEX approvals_by_work ON approvals (run_id, work_id) WHERE status = 'pending';

CREATE TABLE message_waits (
    run_id           TEXT    NOT NULL REFERENCES runs (id),
    work_id          TEXT    NOT NULL,
    message_name     TEXT    NOT NULL,
    correlation_key  TEXT,
    status           TEXT    NOT NULL CHECK (status IN ('open', 'closed')),
    created_at       INTEGER NOT NULL,
    closed_at        INTEGER,
    PRIMARY KEY (run_id, work_id)
) STRICT;

CREATE INDEX message_waits_open ON message_waits (message_name, correlation_key) WHERE status = 'open';

-- One row per delivery id: the first outcome, returned again on a repeat.
CREATE TABLE deliveries (
    delivery_id      TEXT    PRIMARY KEY,
    message_name     TEXT    NOT NULL,
    correlation_key  TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    matched_runs     TEXT    NOT NULL,
    created_at       INTEGER NOT NULL
) STRICT;

-- Evidence records: prompt snapshots, model usage, tool calls, policy
-- decisions, sandbox executions, artifacts.
CREATE TABLE records (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT    NOT NULL REFERENCES runs (id),
    kind        TEXT    NOT NULL,
    data        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX records_by_run ON records (run_id, id);

-- The hash-chained audit log, one chain per run_id; run_id '' is the global
-- stream of workflow-level records. Append-only.
CREATE TABLE audit_log (
    run_id     TEXT    NOT NULL,
    seq        INTEGER NOT NULL CHECK (seq > 0),
    at         TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER audit_log_append_only_update
BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'agentwerke.audit_append_only');
END;

CREATE TRIGGER audit_log_append_only_delete
BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'agentwerke.audit_append_only');
END;
