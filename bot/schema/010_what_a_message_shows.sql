-- A number standing for what each of the bot's messages shows now (text and buttons, as a
-- CRC-32), never the text itself: an edit to what a message already shows is never sent
-- (a double tap in tidy mode). NULL for the user's own messages.
ALTER TABLE chat_messages ADD COLUMN shows INTEGER;
