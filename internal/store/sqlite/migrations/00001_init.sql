-- +goose Up
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    role        TEXT NOT NULL CHECK (role IN ('root', 'signing')),
    public_key  BLOB NOT NULL,
    private_key BLOB NOT NULL,
    certificate BLOB NOT NULL DEFAULT x'',
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    hash        BLOB NOT NULL,
    role        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE products (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    hardware_salt BLOB NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE skus (
    id           TEXT PRIMARY KEY,
    product_id   TEXT NOT NULL REFERENCES products (id),
    edition      TEXT NOT NULL,
    channel      TEXT NOT NULL,
    policy       TEXT NOT NULL,
    entitlements TEXT NOT NULL DEFAULT '[]',
    key_group    INTEGER NOT NULL UNIQUE,
    next_serial  INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
);

CREATE TABLE product_keys (
    hash               BLOB PRIMARY KEY,
    sku_id             TEXT NOT NULL REFERENCES skus (id),
    last_group         TEXT NOT NULL,
    blocked            INTEGER NOT NULL DEFAULT 0,
    block_reason       TEXT NOT NULL DEFAULT '',
    blocked_at         INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    active_activations INTEGER NOT NULL DEFAULT 0,
    activations        INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE activations (
    id         TEXT PRIMARY KEY,
    key_hash   BLOB NOT NULL,
    sku_id     TEXT NOT NULL,
    product_id TEXT NOT NULL,
    last_group TEXT NOT NULL,
    profile    BLOB NOT NULL,
    status     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    not_after  INTEGER NOT NULL DEFAULT 0,
    ended_at   INTEGER NOT NULL DEFAULT 0,
    end_reason TEXT NOT NULL DEFAULT '',
    prior_id   TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX activations_key ON activations (key_hash);

CREATE TABLE activation_anchors (
    product_id    TEXT NOT NULL,
    anchor        BLOB NOT NULL,
    activation_id TEXT NOT NULL,
    PRIMARY KEY (product_id, anchor, activation_id)
) WITHOUT ROWID;

CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '{}',
    request_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_action ON audit_log (action, seq);

-- +goose StatementBegin
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_log;
DROP TABLE activation_anchors;
DROP TABLE activations;
DROP TABLE product_keys;
DROP TABLE skus;
DROP TABLE products;
DROP TABLE tokens;
DROP TABLE signing_keys;
DROP TABLE secrets;
DROP TABLE settings;
