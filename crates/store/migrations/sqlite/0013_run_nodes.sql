-- Each BPMN node a run's tokens reached, events and gateways included:
-- where it stands, how many tokens arrived, when the first and the last
-- arrived and when the last left. One row per node, upserted by the commit
-- of the engine step that moved a token (`Op::TrackNode`), so a crash and
-- a resume can never leave two rows for one node.
CREATE TABLE run_nodes (
    run_id           TEXT    NOT NULL REFERENCES runs (id),
    node_id          TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN
                         ('done', 'active', 'waiting', 'failed', 'cancelled')),
    visits           INTEGER NOT NULL,
    first_entered_at INTEGER NOT NULL,
    entered_at       INTEGER NOT NULL,
    left_at          INTEGER,
    PRIMARY KEY (run_id, node_id)
) STRICT, WITHOUT ROWID;
