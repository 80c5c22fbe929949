"""Settings, read once from the environment and an optional `.env` file.

The environment wins over `.env`. The token is kept out of `repr()` so it cannot leak
through a log line or a traceback that prints the settings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DB_PATH = Path("data/gently.sqlite3")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """A setting is present but unusable; the message names it."""


@dataclass(frozen=True)
class Settings:
    token: str | None = field(default=None, repr=False)
    base_url: str | None = None
    db_path: Path = DEFAULT_DB_PATH
    content_dir: Path | None = None
    admin_ids: frozenset[int] = frozenset()
    log_level: str = "INFO"
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> Settings:
        values = dict(read_env_file(env_file)) if env_file else {}
        values.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = values.get(name, "").strip()
            return value or None

        level = (get("GENTLY_LOG_LEVEL") or "INFO").upper()
        if level not in LOG_LEVELS:
            raise SettingsError(f"GENTLY_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        content_dir = get("GENTLY_CONTENT_DIR")
        webhook_url, secret = get("GENTLY_WEBHOOK_URL"), get("GENTLY_WEBHOOK_SECRET")
        if webhook_url:
            check_webhook(webhook_url, secret)
        return cls(
            token=get("TELEGRAM_BOT_TOKEN"),
            base_url=get("TELEGRAM_BASE_URL"),
            db_path=Path(get("GENTLY_DB_PATH") or DEFAULT_DB_PATH),
            content_dir=Path(content_dir) if content_dir else None,
            admin_ids=parse_ids("GENTLY_ADMIN_IDS", get("GENTLY_ADMIN_IDS")),
            log_level=level,
            webhook_url=webhook_url,
            webhook_listen=get("GENTLY_WEBHOOK_LISTEN") or "0.0.0.0",
            webhook_port=parse_port(get("GENTLY_WEBHOOK_PORT")),
            webhook_secret=secret,
        )


def check_webhook(url: str, secret: str | None) -> None:
    if not url.startswith("https://"):
        raise SettingsError("GENTLY_WEBHOOK_URL must be a public https:// address")
    if not secret:
        raise SettingsError(
            "GENTLY_WEBHOOK_SECRET is required with GENTLY_WEBHOOK_URL (Telegram sends it with "
            "every update, so strangers cannot post fake ones)"
        )
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", secret):
        raise SettingsError(
            "GENTLY_WEBHOOK_SECRET must be 16 to 256 characters of A-Z, a-z, 0-9, _ and -"
        )


def parse_ids(name: str, raw: str | None) -> frozenset[int]:
    if not raw:
        return frozenset()
    try:
        return frozenset(int(part) for part in raw.replace(",", " ").split())
    except ValueError:
        raise SettingsError(f"{name} must be Telegram user ids separated by commas") from None


def parse_port(raw: str | None) -> int:
    if raw is None:
        return 8443
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SettingsError("GENTLY_WEBHOOK_PORT must be a port number between 1 and 65535")
    return int(raw)


def read_env_file(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines; blank lines and # comments are skipped, quotes stripped."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values
