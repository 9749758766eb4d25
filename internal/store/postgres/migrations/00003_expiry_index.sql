-- +goose Up
-- The expiry sweep finds active activations past their validity.
CREATE INDEX activations_expiry ON activations (not_after) WHERE status = 'active' AND not_after > 0;

-- +goose Down
DROP INDEX activations_expiry;
