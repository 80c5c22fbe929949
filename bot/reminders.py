"""Opt-in reminders: kept in the store, scheduled on PTB's JobQueue, restored at start-up.

A reminder is claimed in the database (marked sent) before its message goes out, so a
crash right after sending can never send it twice. Its text comes from content/ and is
checked there to be discreet, since it may show on a lock screen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import Forbidden, TelegramError
from telegram.ext import CallbackContext, JobQueue

from bot.content import Guide
from bot.store import Reminder, Store, StoreUnavailable
from bot.telegram.codec import encode
from bot.walkthrough import Action, Verb

log = logging.getLogger(__name__)


def job_name(user_id: int) -> str:
    return f"reminder:{user_id}"


class Reminders:
    def __init__(
        self,
        job_queue: JobQueue,  # type: ignore[type-arg]
        store: Callable[[], Store],
        guide: Guide,
        clock: Callable[[], float],
    ) -> None:
        self.job_queue = job_queue
        self._store = store
        self.guide = guide
        self.clock = clock

    async def restore(self) -> int:
        """Schedule every pending reminder; overdue ones go out promptly, once."""
        pending = await self._store().pending_reminders()
        for reminder in pending:
            self.schedule(reminder)
        if pending:
            log.info("restored %d pending reminder(s)", len(pending))
        return len(pending)

    def schedule(self, reminder: Reminder) -> None:
        """Replace the user's job with one due at the reminder's time."""
        self.cancel(reminder.user_id)
        self._run(reminder, max(0.0, reminder.due_at - self.clock()))

    def _run(self, reminder: Reminder, delay: float) -> None:
        self.job_queue.run_once(
            self._fire, when=delay, data=reminder, name=job_name(reminder.user_id)
        )

    def cancel(self, user_id: int) -> None:
        for job in self.job_queue.get_jobs_by_name(job_name(user_id)):
            job.schedule_removal()

    async def reschedule_user(self, user_id: int) -> None:
        """After the user changed their reminder: mirror the store in the JobQueue."""
        reminder = await self._store().reminder_for(user_id)
        if reminder is None:
            self.cancel(user_id)
        else:
            self.schedule(reminder)

    async def _fire(self, context: CallbackContext) -> None:  # type: ignore[type-arg]
        reminder = context.job.data if context.job else None
        if isinstance(reminder, Reminder):
            await self.send(reminder, context.bot)

    async def send(self, reminder: Reminder, bot: Bot) -> bool:
        """Claim, then send. Returns whether a message went out."""
        store = self._store()
        try:
            claimed = await store.claim_reminder(reminder, int(self.clock()))
        except StoreUnavailable:
            log.warning("could not claim reminder for user %s; retrying in a minute",
                        reminder.user_id)  # fmt: skip
            # no cancel: a reminder the user set meanwhile keeps its own job
            self._run(reminder, 60)
            return False
        if not claimed:
            return False  # cancelled, changed, deleted, finished or blocked meanwhile
        text = self.guide.messages.reminder("text")
        button = InlineKeyboardButton(
            self.guide.messages.reminder("continue"), callback_data=encode(Action(Verb.RESUME))
        )
        try:
            await bot.send_message(
                reminder.user_id, text, reply_markup=InlineKeyboardMarkup([[button]])
            )
        except Forbidden:
            log.info("user %s blocked the bot; reminder dropped", reminder.user_id)
            await store.mark_blocked(reminder.user_id, int(self.clock()))
            return False
        except TelegramError as error:
            log.warning("reminder for user %s not delivered: %s", reminder.user_id, error)
            return False
        log.info("reminder sent to user %s", reminder.user_id)
        return True
