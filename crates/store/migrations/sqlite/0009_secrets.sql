-- Secrets kept by Agentwerke, sealed: the envelope `SecretCipher::seal`
-- returned (XChaCha20-Poly1305, the name bound as associated data), never
-- the value. The fingerprint is the keyed `hmac-sha256:` one the Settings
-- API and the audit show.
CREATE TABLE secrets (
    name         TEXT    PRIMARY KEY,
    sealed       TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_by   TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
