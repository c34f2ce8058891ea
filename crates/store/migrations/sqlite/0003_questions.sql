-- Blocking questions an agent asks a human (`human.ask`): the run's
-- conversation. One answer per question; the run waits (`waiting_user`)
-- while one is open.
CREATE TABLE questions (
    id           TEXT    PRIMARY KEY,
    run_id       TEXT    NOT NULL REFERENCES runs (id),
    work_id      TEXT    NOT NULL,
    node_id      TEXT    NOT NULL,
    agent        TEXT    NOT NULL,
    question     TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('open', 'answered', 'cancelled')),
    answer       TEXT,
    answered_by  TEXT,
    asked_at     INTEGER NOT NULL,
    answered_at  INTEGER
) STRICT;

CREATE INDEX questions_by_run ON questions (run_id, asked_at, id);
CREATE INDEX questions_open ON questions (asked_at, id) WHERE status = 'open';
