-- +goose Up
CREATE TABLE help_feedback (
    page TEXT NOT NULL,
    lang TEXT NOT NULL,
    yes  BIGINT NOT NULL DEFAULT 0,
    no   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (page, lang)
);

-- +goose Down
DROP TABLE help_feedback;
