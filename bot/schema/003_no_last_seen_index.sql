-- Every tap updates last_seen_at, which also rewrote this index; only the operator's stats
-- read it, and a scan of the table answers those quickly enough.
DROP INDEX IF EXISTS users_last_seen;
