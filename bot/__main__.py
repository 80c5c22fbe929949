"""Command line: `python -m bot {run,console,check-content,stamp-translation,backup,…}`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from bot import DISTRIBUTION, __version__
from bot.config import Settings, SettingsError
from bot.content import (
    REFERENCE,
    ContentError,
    Guide,
    default_content_dir,
    load_guide,
    load_guides,
)
from bot.content.follows import StampError, stamp
from bot.content.load import LANGUAGE
from bot.content.voice import reading_seconds
from bot.instance import AlreadyRunning, Misconfigured, StartupFailed
from bot.logs import setup_logging
from bot.store import Store, StoreUnavailable

T = TypeVar("T")

# sysexits.h's EX_CONFIG: a failure no restart can mend (bad settings, a rejected token,
# broken content). The systemd unit's RestartPreventExitStatus=78 stops a restart loop;
# anything that may pass (the network, a locked database) exits 1 and is restarted.
EX_CONFIG = 78

NO_TOKEN = """\
Gently needs a Telegram bot token to run.

  1. In Telegram, open a chat with @BotFather and send /newbot.
  2. Put the token it gives you in a .env file here:  TELEGRAM_BOT_TOKEN=123456:ABC…
     (or export TELEGRAM_BOT_TOKEN in your shell), then run this again.

No token yet? Walk through the whole guide in your terminal instead:
  python3 dev.py console        (or: python -m bot console)
"""


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"Configuration problem: {error}", file=sys.stderr)
        return EX_CONFIG
    setup_logging(settings.log_level, [settings.token, settings.webhook_secret])
    try:
        return int(args.handler(args, settings) or 0)
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ContentError as error:
        print(f"Gently cannot start: {error}", file=sys.stderr)
        return EX_CONFIG
    except StoreUnavailable as error:
        said = str(error)
        if str(settings.db_path) not in said:  # always name the file
            said = f"{os.path.abspath(settings.db_path)}: {said}"
        print(
            f"Gently cannot use its database: {said}. Restore it from a backup, or fix "
            "its permissions, then start again.",
            file=sys.stderr,
        )
        return 1
    except (AlreadyRunning, StartupFailed) as error:
        print(f"Gently cannot start: {error}", file=sys.stderr)
        return EX_CONFIG if isinstance(error, Misconfigured) else 1
    except KeyboardInterrupt:
        return 130
    except Exception:
        # Through logging, so the token is scrubbed even from the traceback.
        logging.getLogger("bot").exception("Gently stopped on an unexpected error")
        return 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    top.add_argument("--version", action="version", version=f"{DISTRIBUTION} {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start the Telegram bot")
    run.set_defaults(handler=cmd_run)

    console = sub.add_parser("console", help="walk the guide in this terminal, no token needed")
    console.add_argument("--user", default="console", help="whose progress (default: console)")
    console.add_argument("--db", type=Path, help="database file (default: GENTLY_DB_PATH)")
    console.add_argument("--lang", help="your language, as Telegram would say it (e.g. es, de)")
    console.set_defaults(handler=cmd_console)

    check = sub.add_parser("check-content", help="validate the guide content")
    check.add_argument("directory", nargs="?", type=Path, help="content directory")
    check.add_argument("--json", action="store_true", help="print the normalized guide")
    check.add_argument("--lang", default=REFERENCE, help="language for --json (default: en)")
    check.set_defaults(handler=cmd_check_content)

    follow = sub.add_parser(
        "stamp-translation",
        help="record that a translation follows today's English (after updating it)",
    )
    follow.add_argument("lang", help="the language brought up to date (e.g. es)")
    follow.add_argument(
        "keys", nargs="*", help='only these, as check-content names them: "es/FILE: KEY"'
    )
    follow.add_argument("--dir", type=Path, help="content directory")
    follow.set_defaults(handler=cmd_stamp_translation)

    backup = sub.add_parser("backup", help="write a consistent copy of the database")
    backup.add_argument("path", type=Path, help="where to write the copy (must not exist)")
    backup.set_defaults(handler=cmd_backup)

    health = sub.add_parser("health", help="exit 0 if the running bot's heartbeat is fresh")
    health.set_defaults(handler=cmd_health)

    alone = sub.add_parser(
        "replica-check",
        help="before restoring on a new machine: refuse while another instance replicates",
    )
    alone.add_argument(
        "--config", type=Path, default=Path("deploy/litestream.yml"), help="Litestream's config"
    )
    alone.set_defaults(handler=cmd_replica_check)

    stats = sub.add_parser("stats", help="aggregate usage figures (no personal data)")
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(handler=cmd_stats)
    return top


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.token:
        print(NO_TOKEN, file=sys.stderr)
        return EX_CONFIG
    from bot.telegram.runner import run_bot

    guides = load_guides(settings.content_dir)
    for code, problems in guides.incomplete.items():
        logging.getLogger("bot").warning(
            "the %s guide is incomplete (%d problem(s); run check-content): not offered",
            code,
            len(problems),
        )
    if guides.stale:
        logging.getLogger("bot").warning(
            "translations behind English, offered as they are (run check-content): %s",
            ", ".join(f"{code} {len(behind)} text(s)" for code, behind in guides.stale.items()),
        )
    return run_bot(settings, guides)


def cmd_console(args: argparse.Namespace, settings: Settings) -> int:
    from bot.console import run_console

    root = logging.getLogger()
    root.setLevel(max(logging.WARNING, root.level))  # log lines would break into the dialogue
    guides = load_guides(settings.content_dir)
    db = args.db or settings.db_path
    try:
        with_store(db, lambda store: run_console(guides, store, args.user, args.lang))
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly; progress is already saved.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def cmd_check_content(args: argparse.Namespace, settings: Settings) -> int:
    directory = args.directory or settings.content_dir
    try:
        guides = load_guides(directory)
    except ContentError as error:
        print(error, file=sys.stderr)
        return 1
    if args.json:
        guide = guides.get(args.lang)
        if guide is None:
            known = ", ".join(guides.by_language)
            print(f"no complete '{args.lang}' guide (complete: {known})", file=sys.stderr)
            return 1
        print(json.dumps(guide_as_json(guide), ensure_ascii=False, indent=2))
        return 0
    print(summary(guides.reference))
    for code, guide in guides.by_language.items():
        if code != REFERENCE:
            print(f"\n{code} ({guide.messages.language_name}): complete, same shape as English")
    for code, problems in guides.incomplete.items():
        listing = "\n".join(f"  - {problem}" for problem in problems)
        print(
            f"\n{code}: incomplete, not offered to users; {len(problems)} problem(s):\n{listing}",
            file=sys.stderr,
        )
    for code, behind in guides.stale.items():
        listing = "\n".join(f"  - {line}" for line in behind)
        print(
            f"\n{code}: {len(behind)} text(s) follow an older English text; update them, "
            f"then run: python -m bot stamp-translation {code}\n{listing}",
            file=sys.stderr,
        )
    return 1 if guides.incomplete or guides.stale else 0


def cmd_stamp_translation(args: argparse.Namespace, settings: Settings) -> int:
    root = args.dir or settings.content_dir or default_content_dir()
    if args.lang == REFERENCE or not LANGUAGE.match(args.lang) or not (root / args.lang).is_dir():
        print(f"no translation '{args.lang}' in {root}", file=sys.stderr)
        return 1
    try:
        stamped = stamp(root, args.lang, args.keys, REFERENCE)
    except StampError as error:
        print(f"Nothing stamped: {error}", file=sys.stderr)
        return 1
    print(f"{args.lang}: {len(stamped)} text(s) now recorded as following today's English")
    for name in stamped:
        print(f"  - {name}")
    return 0


def guide_as_json(guide: Guide) -> dict[str, object]:
    return {
        "sections": [
            {
                "id": part.id,
                "title": part.title,
                "intro": part.intro,
                "steps": [{"id": s.id, "kind": s.kind.value, "text": s.text} for s in part.steps],
            }
            for part in guide.parts
        ],
        "resources": [
            {
                "group": group.id,
                "kind": r.kind.value,
                "title": r.title,
                "author": r.author,
                "details": r.details,
                "description": r.description,
                "url": r.url,
            }
            for group in guide.resources
            for r in group.resources
        ],
    }


def summary(guide: Guide) -> str:
    lines = ["Guide content is valid.", ""]
    for number, part in enumerate(guide.parts, start=1):
        checklist = len(part.checklist)
        extra = f", {checklist} checklist items" if checklist else ""
        lines.append(f"  Part {number} · {part.title}: {len(part.steps)} steps{extra}")
    steps = sum(len(part.steps) for part in guide.parts)
    items = sum(len(part.checklist) for part in guide.parts)
    resources = sum(len(group.resources) for group in guide.resources)
    lines += [
        "",
        f"  {len(guide.parts)} parts, {steps} steps, {items} checklist items, "
        f"{resources} resources in {len(guide.resources)} messages",
        "",
        "  Reading time per message (at 200 words a minute), longest first:",
    ]
    timed = sorted(
        ((reading_seconds(step.text), step.id) for part in guide.parts for step in part.steps),
        reverse=True,
    )
    lines += [f"    {seconds:>3} s  {step_id}" for seconds, step_id in timed]
    total = sum(seconds for seconds, _ in timed)
    lines.append(f"  The whole walk: about {round(total / 60)} minutes of reading.")
    return "\n".join(lines)


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    async def copy(store: Store) -> int:
        await store.backup(args.path)
        copied = await Store.open_read_only(args.path)
        try:
            return (await copied.stats(int(time.time()))).users
        finally:
            await copied.close()

    try:  # read-only: a mistyped path is refused, never created or migrated
        users = with_store(settings.db_path, copy, opener=Store.open_read_only)
    except (FileExistsError, PermissionError) as error:
        print(f"No backup written: {error}", file=sys.stderr)
        return 1
    source = os.path.abspath(settings.db_path)
    print(
        f"Backup of {source} ({users} users) written to {args.path} (mode 0600). Rotate old "
        "backups: each still holds users who have since erased themselves."
    )
    return 0


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    from bot.health import check, heartbeat_path

    problem = check(heartbeat_path(settings.db_path))
    print(problem or "healthy", file=sys.stderr if problem else sys.stdout)
    return 1 if problem else 0


def cmd_replica_check(args: argparse.Namespace, settings: Settings) -> int:
    from bot.failover import ReplicaUnreadable, refusal

    try:
        refused = refusal(args.config, settings.db_path, settings.replica_quiet_seconds)
    except ReplicaUnreadable as error:
        print(f"Gently cannot check the replica: {error}", file=sys.stderr)
        return 1
    if refused:
        print(f"Gently will not start here: {refused}.", file=sys.stderr)
        return 1
    return 0


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from bot.reporting import stats_text

    guide = load_guide(settings.content_dir)
    stats = with_store(
        settings.db_path, lambda store: store.stats(int(time.time())), opener=Store.open_read_only
    )
    figures = {"version": __version__, **stats.__dict__}
    print(json.dumps(figures, indent=2) if args.json else stats_text(guide, stats))
    return 0


def with_store(
    path: Path,
    use: Callable[[Store], Awaitable[T]],
    opener: Callable[[Path], Awaitable[Store]] = Store.open,
) -> T:
    """Open the database, run `use` on it, close it: the whole life of one short command."""

    async def go() -> T:
        store = await opener(path)
        try:
            return await use(store)
        finally:
            await store.close()

    return asyncio.run(go())


if __name__ == "__main__":
    sys.exit(main())
