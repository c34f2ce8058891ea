-- The Tool Gateway's durable state: policy sets, the kill switch, run
-- artifacts, and single use of approved escalations.

-- An approved tool escalation authorises exactly one execution of exactly
-- one call; consumed_at marks it used.
ALTER TABLE approvals ADD COLUMN consumed_at INTEGER;

CREATE TABLE policy_sets (
    version       INTEGER PRIMARY KEY CHECK (version > 0),
    text          TEXT    NOT NULL,
    sha256        TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('draft', 'published')),
    note          TEXT,
    created_by    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    published_by  TEXT,
    published_at  INTEGER
) STRICT;

-- Decisions cite a policy set by version and hash: a published set never changes.
CREATE TRIGGER policy_sets_published_immutable
BEFORE UPDATE ON policy_sets
WHEN OLD.status = 'published'
BEGIN
    SELECT RAISE(ABORT, 'agentwerke.immutable_policy_set');
END;

CREATE TRIGGER policy_sets_published_undeletable
BEFORE DELETE ON policy_sets
WHEN OLD.status = 'published'
BEGIN
    SELECT RAISE(ABORT, 'agentwerke.immutable_policy_set');
END;

CREATE TABLE gateway_halts (
    scope      TEXT    NOT NULL CHECK (scope IN ('global', 'agent', 'workflow')),
    target     TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    halted_by  TEXT    NOT NULL,
    halted_at  INTEGER NOT NULL,
    PRIMARY KEY (scope, target)
) STRICT;

CREATE TABLE artifact_blobs (
    run_id      TEXT    NOT NULL REFERENCES runs (id),
    sha256      TEXT    NOT NULL,
    content     BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (run_id, sha256)
) STRICT;

CREATE TABLE artifact_paths (
    run_id      TEXT    NOT NULL REFERENCES runs (id),
    path        TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    media_type  TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (run_id, path)
) STRICT;
