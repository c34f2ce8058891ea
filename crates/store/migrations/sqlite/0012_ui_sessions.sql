-- Web UI sessions, shared by every server on the database, so a restart
-- does not sign anyone out. The session id is the browser's cookie and is
-- kept only as its SHA-256: whoever reads this table cannot act as anyone.
-- The principal is the JSON the session acts as; expired rows are removed
-- when a session opens.
CREATE TABLE ui_sessions (
    id_hash     TEXT    PRIMARY KEY,
    principal   TEXT    NOT NULL,
    csrf        TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_at);
