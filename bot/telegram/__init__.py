"""The Telegram front end: intake (polling, webhook), handlers, delivery through the send
scheduler, reminders' timer, and the process that runs them."""
