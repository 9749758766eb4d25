-- +goose Up
-- The end of a key's validity (subscriptions, trials), fixed at its first
-- activation so that moving or re-entering the key never extends it.
ALTER TABLE product_keys ADD COLUMN not_after BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE product_keys DROP COLUMN not_after;
