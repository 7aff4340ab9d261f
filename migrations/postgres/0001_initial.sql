-- DashAuth server state, PostgreSQL backend, schema version 1.
-- Times are UNIX milliseconds; ids are lowercase hyphenated UUIDs; booleans are BOOLEAN.

-- Challenges, pending (validated = 0) and validated but not yet collected.
CREATE TABLE challenges (
    id             TEXT    NOT NULL PRIMARY KEY,
    account_id     BIGINT NOT NULL,
    code           TEXT    NOT NULL UNIQUE,
    bot_account_id BIGINT NOT NULL,
    -- The client that asked: an IPv4 address or an IPv6 /64, as text.
    requested_by   TEXT    NOT NULL,
    audience       TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    validated      BOOLEAN NOT NULL DEFAULT FALSE,
    -- What the bot saw in the verifying message (keys 6 and 3).
    gd_username    TEXT,
    gd_user_id     BIGINT
);
CREATE INDEX challenges_pending_by_bot ON challenges (bot_account_id, validated, expires_at);
CREATE INDEX challenges_by_account_client ON challenges (account_id, requested_by, validated, created_at);
CREATE INDEX challenges_by_client ON challenges (requested_by, validated, created_at);
CREATE INDEX challenges_by_expiry ON challenges (expires_at);

-- Login and session tokens, by SHA-256 only: `lookup` is its first 16 bytes, `hash` all 32.
CREATE TABLE tokens (
    lookup      BYTEA   NOT NULL PRIMARY KEY,
    hash        BYTEA   NOT NULL,
    kind        TEXT    NOT NULL,
    account_id  BIGINT NOT NULL,
    device_id   TEXT,
    audience    TEXT,
    gd_username TEXT,
    gd_user_id  BIGINT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX tokens_by_device ON tokens (device_id, created_at);
CREATE INDEX tokens_by_account ON tokens (account_id);
CREATE INDEX tokens_by_expiry ON tokens (expires_at);

-- Devices, revoked ones included (their nonces are refused with the right reason).
CREATE TABLE devices (
    id                     TEXT    NOT NULL PRIMARY KEY,
    account_id             BIGINT NOT NULL,
    public_key_pem         TEXT    NOT NULL,
    name                   TEXT    NOT NULL,
    platform               TEXT    NOT NULL,
    certificate_pem        TEXT    NOT NULL,
    certificate_expires_at BIGINT NOT NULL,
    revoked                BOOLEAN NOT NULL DEFAULT FALSE,
    created_at             BIGINT NOT NULL
);
CREATE INDEX devices_by_account ON devices (account_id, created_at);

-- Accepted nonces, remembered until they fall out of the clock window.
CREATE TABLE nonces (
    device_id    TEXT    NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    forget_at    BIGINT NOT NULL,
    PRIMARY KEY (device_id, timestamp_ms)
);
CREATE INDEX nonces_by_forget ON nonces (forget_at);

-- Server secrets that every instance shares: the CA key and certificate.
CREATE TABLE secrets (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

-- Which instance polls each bot account's inbox, until when.
CREATE TABLE bot_leases (
    bot_account_id BIGINT NOT NULL PRIMARY KEY,
    holder         TEXT    NOT NULL,
    expires_at     BIGINT NOT NULL
);
