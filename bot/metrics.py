"""What the running bot counts, for `/metrics` (prometheus-client, a registry of its own so
only `gently_` names appear). Labels are methods, outcomes, lanes and events: never a user
id, a chat id, a name or a text. Counters live for the process; aggregates of the database
(users, ledger rows) are refreshed by housekeeping, never counted per user in memory."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from functools import partial

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES_RECEIVED = Counter(
    "gently_updates_received", "Updates taken in for handling", registry=REGISTRY
)
UPDATES_PROCESSED = Counter(
    "gently_updates_processed", "Updates handled to the end", registry=REGISTRY
)
UPDATES_DROPPED = Counter(
    "gently_updates_dropped",
    "Updates acknowledged but not handled (a user over their bound of waiting updates)",
    registry=REGISTRY,
)
WEBHOOK_REFUSED = Counter(
    "gently_webhook_refused",
    "Webhook requests answered 503 above the intake backlog (Telegram delivers them again)",
    registry=REGISTRY,
)
REPLIES_SENT = Counter(
    "gently_replies_sent", "Screens shown in answer to a user (sent or edited)", registry=REGISTRY
)
API_CALLS = Counter(
    "gently_bot_api_calls",
    "Bot API calls by method and outcome (ok, retry-after, error)",
    ["method", "outcome"],
    registry=REGISTRY,
)
RETRY_AFTER_PAUSES = Counter(
    "gently_retry_after_pauses", "Times Telegram asked the bot to slow down", registry=REGISTRY
)
SEND_QUEUE = Gauge(
    "gently_send_queue_depth", "Sends waiting for their turn, by lane", ["lane"], registry=REGISTRY
)
REPLY_WAIT = Histogram(
    "gently_reply_wait_seconds",
    "From an update taken in to its reply's Bot API call done",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
    registry=REGISTRY,
)
REMINDERS = Counter(
    "gently_reminders",
    "Reminders by event: due (a send started), sent, released (retried later), dropped",
    ["event"],
    registry=REGISTRY,
)
STORE_FAILURES = Counter(
    "gently_store_failures", "Database operations that failed", registry=REGISTRY
)
LEDGER_ROWS = Gauge(
    "gently_chat_ledger_rows", "Message ids kept for /hide and /delete", registry=REGISTRY
)
USERS = Gauge(
    "gently_users", "Users by state (stored, confirmed, finished)", ["state"], registry=REGISTRY
)
WEBHOOK_PENDING = Gauge(
    "gently_webhook_pending_updates",
    "Updates Telegram holds for the webhook (getWebhookInfo)",
    registry=REGISTRY,
)
BUILD = Info("gently_build", "What runs", registry=REGISTRY)

# when the update being handled was taken in (monotonic): the reply's wait runs from it
RECEIVED_AT: ContextVar[float | None] = ContextVar("received_at", default=None)


def reply_shown() -> None:
    REPLIES_SENT.inc()
    received = RECEIVED_AT.get()
    if received is not None:
        REPLY_WAIT.observe(time.monotonic() - received)


def watch_queue(depth: Callable[[str], int], lanes: list[str]) -> None:
    for lane in lanes:
        SEND_QUEUE.labels(lane=lane).set_function(partial(depth, lane))
