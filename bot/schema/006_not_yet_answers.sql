-- One tap per checklist item (issue 13): each item is answered "yes" (the `ticked` list)
-- or "not yet" (this list); an item in neither has not been answered.
ALTER TABLE users ADD COLUMN not_yet TEXT NOT NULL DEFAULT '[]';
