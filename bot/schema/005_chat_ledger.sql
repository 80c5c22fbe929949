-- The chat ledger: which messages are in each private chat (ids and times only, never
-- content), so /hide and /delete can remove them while Telegram still allows (48 hours).
-- Rows older than that are pruned; `chat_leftovers` remembers only that a chat still holds
-- messages the bot can no longer remove, so /delete can say so honestly. Only users who
-- confirmed 18+ (a row in users) get ledger rows: nothing is kept of anyone else.
CREATE TABLE chat_messages (
    user_id    INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    sent_at    INTEGER NOT NULL,            -- unix seconds, by the bot's clock
    keyboard   INTEGER NOT NULL DEFAULT 0,  -- 1: sent with buttons (the newest is the live one)
    PRIMARY KEY (user_id, message_id)
) STRICT, WITHOUT ROWID;  -- STRICT: a forged, non-integer id is refused, never stored
CREATE INDEX chat_messages_age ON chat_messages (sent_at);
CREATE TABLE chat_leftovers (
    user_id INTEGER PRIMARY KEY
) WITHOUT ROWID;
-- Users from before the ledger have messages in their chats that it never saw.
INSERT INTO chat_leftovers (user_id) SELECT user_id FROM users;
-- "Keep only the current step in the chat" (issue 12's tidy mode).
ALTER TABLE users ADD COLUMN tidy INTEGER NOT NULL DEFAULT 0;
