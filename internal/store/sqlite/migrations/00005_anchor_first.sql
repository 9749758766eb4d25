-- +goose Up
-- PostgreSQL reorders the anchors' key here (generic plans); SQLite plans
-- every statement with its literal IN list and needs no change. The
-- migration exists so that both stores stay at the same schema version
-- (echt admin db copy requires it).
SELECT 1;

-- +goose Down
SELECT 1;
