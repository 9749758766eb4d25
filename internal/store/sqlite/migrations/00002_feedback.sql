-- +goose Up
CREATE TABLE help_feedback (
    page TEXT NOT NULL,
    lang TEXT NOT NULL,
    yes  INTEGER NOT NULL DEFAULT 0,
    no   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (page, lang)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE help_feedback;
