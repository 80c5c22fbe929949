-- The guide in the user's language (issue 15): a two-letter code, nothing more.
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
