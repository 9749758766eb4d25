-- +goose Up
-- An activation's anchors move into its row (store.PackAnchors: each one
-- length-prefixed, in byte order), so that reading an activation needs no
-- look-up by activation id and writing one no second index entry per
-- anchor; activation_anchors keeps only its primary key, to find a device
-- by any of its anchors.
ALTER TABLE activations ADD COLUMN anchors BLOB NOT NULL DEFAULT x'';
UPDATE activations SET anchors = COALESCE((
    SELECT unhex(group_concat(printf('%02x', length(anchor)) || hex(anchor), ''))
    FROM (SELECT anchor FROM activation_anchors x WHERE x.activation_id = activations.id ORDER BY anchor)
), x'');
DROP INDEX activation_anchors_activation;

-- +goose Down
CREATE INDEX activation_anchors_activation ON activation_anchors (activation_id);
ALTER TABLE activations DROP COLUMN anchors;
