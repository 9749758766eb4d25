-- +goose Up
-- Loading an activation's anchors (Activation, ActivationsByAnchors) looks
-- them up by activation id.
CREATE INDEX activation_anchors_activation ON activation_anchors (activation_id);

-- +goose Down
DROP INDEX activation_anchors_activation;
