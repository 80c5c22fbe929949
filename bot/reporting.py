"""Operator stats as text, shared by `python -m bot stats` and the /stats command."""

from __future__ import annotations

from bot import __version__
from bot.content import Guide
from bot.store import Stats


def stats_text(guide: Guide, stats: Stats) -> str:
    lines = [
        f"Gently {__version__}, aggregate figures",
        f"users stored: {stats.users}",
        f"confirmed 18+: {stats.acknowledged}",
        f"finished the guide: {stats.finished}",
        f"active in the last 7 days: {stats.active_7d}",
        f"pending reminders: {stats.pending_reminders}",
        "users per language: "
        + (", ".join(f"{code} {n}" for code, n in sorted(stats.languages.items())) or "none"),
        "reached each part:",
    ]
    for number, part in enumerate(guide.parts, start=1):
        lines.append(f"  {number}. {part.title}: {stats.reached.get(part.id, 0)}")
    return "\n".join(lines)
