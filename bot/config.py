"""Settings, read once from the environment and an optional `.env` file.

The environment wins over `.env`. The token is kept out of `repr()` so it cannot leak
through a log line or a traceback that prints the settings.
"""

from __future__ import annotations

import os
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
        return cls(
            token=get("TELEGRAM_BOT_TOKEN"),
            base_url=get("TELEGRAM_BASE_URL"),
            db_path=Path(get("GENTLY_DB_PATH") or DEFAULT_DB_PATH),
            content_dir=Path(content_dir) if content_dir else None,
            admin_ids=parse_ids("GENTLY_ADMIN_IDS", get("GENTLY_ADMIN_IDS")),
            log_level=level,
            webhook_url=get("GENTLY_WEBHOOK_URL"),
            webhook_listen=get("GENTLY_WEBHOOK_LISTEN") or "0.0.0.0",
            webhook_port=parse_port(get("GENTLY_WEBHOOK_PORT")),
            webhook_secret=get("GENTLY_WEBHOOK_SECRET"),
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
