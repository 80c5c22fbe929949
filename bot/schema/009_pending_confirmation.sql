-- The destructive confirmation a user was shown last and has not answered (issue 20):
-- "<verb>:<one-time token>", and when it was shown; it expires after a few minutes.
ALTER TABLE users ADD COLUMN pending TEXT;
ALTER TABLE users ADD COLUMN pending_at INTEGER;
