-- Reminders are claimed only when their send goes out; a send that fails for a passing
-- reason goes back to pending, due again after a backoff that grows with each attempt.
ALTER TABLE reminders ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
