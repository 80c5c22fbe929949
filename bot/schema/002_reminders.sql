-- Opt-in reminders (at most one per user) and users who blocked the bot.
CREATE TABLE reminders (
    user_id INTEGER PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    due_at  INTEGER NOT NULL,  -- unix seconds
    sent_at INTEGER            -- set in the same transaction that claims it for sending
);
CREATE INDEX reminders_due ON reminders (due_at) WHERE sent_at IS NULL;
ALTER TABLE users ADD COLUMN blocked_at INTEGER;
