-- +goose Up
-- SQLite needs a trigger against REPLACE here. PostgreSQL has no REPLACE,
-- and INSERT ... ON CONFLICT DO UPDATE fires audit_log_append_only; the
-- migration exists so that both stores stay at the same schema version
-- (echt admin db copy requires it).
SELECT 1;

-- +goose Down
SELECT 1;
