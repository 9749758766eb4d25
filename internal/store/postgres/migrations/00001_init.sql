-- +goose Up
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    value      BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    role        TEXT NOT NULL CHECK (role IN ('root', 'signing')),
    public_key  BYTEA NOT NULL,
    private_key BYTEA NOT NULL,
    certificate BYTEA NOT NULL DEFAULT ''::bytea,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    hash        BYTEA NOT NULL,
    role        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE products (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    hardware_salt BYTEA NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE skus (
    id           TEXT PRIMARY KEY,
    product_id   TEXT NOT NULL REFERENCES products (id),
    edition      TEXT NOT NULL,
    channel      TEXT NOT NULL,
    policy       TEXT NOT NULL,
    entitlements TEXT NOT NULL DEFAULT '[]',
    key_group    INTEGER NOT NULL UNIQUE,
    next_serial  BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL
);

CREATE TABLE product_keys (
    hash               BYTEA PRIMARY KEY,
    sku_id             TEXT NOT NULL REFERENCES skus (id),
    last_group         TEXT NOT NULL,
    blocked            BOOLEAN NOT NULL DEFAULT false,
    block_reason       TEXT NOT NULL DEFAULT '',
    blocked_at         BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    active_activations INTEGER NOT NULL DEFAULT 0,
    activations        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE activations (
    id         TEXT PRIMARY KEY,
    key_hash   BYTEA NOT NULL,
    sku_id     TEXT NOT NULL,
    product_id TEXT NOT NULL,
    last_group TEXT NOT NULL,
    profile    BYTEA NOT NULL,
    status     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    not_after  BIGINT NOT NULL DEFAULT 0,
    ended_at   BIGINT NOT NULL DEFAULT 0,
    end_reason TEXT NOT NULL DEFAULT '',
    prior_id   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX activations_key ON activations (key_hash);

CREATE TABLE activation_anchors (
    product_id    TEXT NOT NULL,
    anchor        BYTEA NOT NULL,
    activation_id TEXT NOT NULL,
    PRIMARY KEY (product_id, anchor, activation_id)
);

CREATE TABLE audit_log (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '{}',
    request_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_action ON audit_log (action, seq);

-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
-- +goose StatementEnd

-- A statement trigger also fires when no row matches, and covers TRUNCATE,
-- which row triggers do not see.
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- +goose Down
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
DROP TABLE activation_anchors;
DROP TABLE activations;
DROP TABLE product_keys;
DROP TABLE skus;
DROP TABLE products;
DROP TABLE tokens;
DROP TABLE signing_keys;
DROP TABLE secrets;
DROP TABLE settings;
