-- +goose Up
-- REPLACE (INSERT OR REPLACE) deletes the row it conflicts with without
-- firing audit_log_no_delete (recursive triggers are off): refuse an
-- insert that names a sequence number already taken.
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
WHEN NEW.seq IS NOT NULL AND EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_log_no_replace;
