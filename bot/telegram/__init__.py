"""The Telegram front end: a thin adapter over the walkthrough, the session and the store."""
