-- One row per user who confirmed they are 18 or older. Nothing identifying but the
-- Telegram user id: no names, no usernames, no message texts.
CREATE TABLE users (
    user_id         INTEGER PRIMARY KEY,
    acknowledged_at INTEGER NOT NULL,              -- unix seconds, when 18+ was confirmed
    step_id         TEXT    NOT NULL,              -- stable id from content/
    step_index      INTEGER NOT NULL DEFAULT 0,    -- index in its part, to find a removed step's heir
    view            TEXT    NOT NULL DEFAULT 'step',
    ticked          TEXT    NOT NULL DEFAULT '[]', -- JSON array of checklist step ids
    seen_parts      TEXT    NOT NULL DEFAULT '[]', -- JSON array of part ids
    reviewing       INTEGER NOT NULL DEFAULT 0,
    started_at      INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    finished_at     INTEGER
);
CREATE INDEX users_last_seen ON users (last_seen_at);
