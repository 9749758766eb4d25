-- +goose Up
-- Lead the anchors' key with the anchor: prepared (generic) plans for
-- "product_id = $1 AND anchor = ANY($2)" then seek by anchor instead of
-- scanning every anchor of the product.
ALTER TABLE activation_anchors DROP CONSTRAINT activation_anchors_pkey;
ALTER TABLE activation_anchors ADD PRIMARY KEY (anchor, product_id, activation_id);

-- +goose Down
ALTER TABLE activation_anchors DROP CONSTRAINT activation_anchors_pkey;
ALTER TABLE activation_anchors ADD PRIMARY KEY (product_id, anchor, activation_id);
