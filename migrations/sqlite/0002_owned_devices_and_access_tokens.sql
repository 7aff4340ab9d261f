-- DashAuth server state, SQLite backend, schema version 2: devices their owner lists and
-- revokes, and access tokens (JWTs) for third-party servers.

-- When the device last authenticated with a nonce; who the bot saw when it enrolled.
ALTER TABLE devices ADD COLUMN last_used_at INTEGER;
ALTER TABLE devices ADD COLUMN gd_username TEXT;
ALTER TABLE devices ADD COLUMN gd_user_id INTEGER;

-- Accounts that revoked everything: access tokens issued before are inactive.
CREATE TABLE account_revocations (
    account_id     INTEGER NOT NULL PRIMARY KEY,
    revoked_all_at INTEGER NOT NULL
);

-- Ed25519 keys signing access tokens: the newest unretired one signs; retired ones are
-- published until the tokens they signed have expired.
CREATE TABLE signing_keys (
    kid         TEXT    NOT NULL PRIMARY KEY,
    -- PKCS#8 DER, standard base64.
    private_key TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
);
