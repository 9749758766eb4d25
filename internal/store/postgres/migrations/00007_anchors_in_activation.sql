-- +goose Up
-- An activation's anchors move into its row (store.PackAnchors: each one
-- length-prefixed, in byte order), so that reading an activation needs no
-- look-up by activation id and writing one no second index entry per
-- anchor; activation_anchors keeps only its primary key, to find a device
-- by any of its anchors.
ALTER TABLE activations ADD COLUMN anchors bytea NOT NULL DEFAULT ''::bytea;
UPDATE activations a SET anchors = x.packed
FROM (
    SELECT activation_id, string_agg(set_byte(decode('00', 'hex'), 0, length(anchor)) || anchor, ''::bytea ORDER BY anchor) AS packed
    FROM activation_anchors GROUP BY activation_id
) x
WHERE x.activation_id = a.id;
DROP INDEX activation_anchors_activation;

-- +goose Down
CREATE INDEX activation_anchors_activation ON activation_anchors (activation_id);
ALTER TABLE activations DROP COLUMN anchors;
