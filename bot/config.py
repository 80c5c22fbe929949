"""Settings, read once from the environment and an optional `.env` file.

The environment wins over `.env`. The token is kept out of `repr()` so it cannot leak
through a log line or a traceback that prints the settings.
"""

from __future__ import annotations

import io
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

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
    webhook_listen: str = "127.0.0.1"  # a TLS proxy in front faces the internet
    webhook_port: int = 8443
    webhook_secret: str | None = field(default=None, repr=False)
    startup_retry_seconds: float = 60.0
    status_port: int | None = None  # the status endpoint (/healthz, /metrics); None: off
    status_listen: str = "127.0.0.1"
    alerts: bool = True  # ERRORs also go to the admins as a short message
    litestream_socket: Path | None = None  # Litestream replicates the database (issue 23)
    replica_quiet_seconds: float = 45.0  # see failover.py

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
            raise SettingsError(
                f"GENTLY_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}"
            )
        content_dir = get("GENTLY_CONTENT_DIR")
        webhook_url, secret = get("GENTLY_WEBHOOK_URL"), get("GENTLY_WEBHOOK_SECRET")
        if webhook_url:
            check_webhook(webhook_url, secret)
        base_url = get("TELEGRAM_BASE_URL")
        if base_url:
            check_url("TELEGRAM_BASE_URL", base_url, ("http", "https"))
        listen = get("GENTLY_WEBHOOK_LISTEN") or "127.0.0.1"
        check_listen("GENTLY_WEBHOOK_LISTEN", listen)
        status_listen = get("GENTLY_STATUS_LISTEN") or "127.0.0.1"
        check_listen("GENTLY_STATUS_LISTEN", status_listen)
        status_port = get("GENTLY_STATUS_PORT")
        alerts = (get("GENTLY_ALERTS") or "on").lower()
        if alerts not in ("on", "off"):
            raise SettingsError(f"GENTLY_ALERTS must be on or off, not {alerts!r}")
        return cls(
            token=get("TELEGRAM_BOT_TOKEN"),
            base_url=base_url,
            db_path=Path(get("GENTLY_DB_PATH") or DEFAULT_DB_PATH),
            content_dir=Path(content_dir) if content_dir else None,
            admin_ids=parse_ids("GENTLY_ADMIN_IDS", get("GENTLY_ADMIN_IDS")),
            log_level=level,
            webhook_url=webhook_url,
            webhook_listen=listen,
            webhook_port=parse_port("GENTLY_WEBHOOK_PORT", get("GENTLY_WEBHOOK_PORT") or "8443"),
            webhook_secret=secret,
            startup_retry_seconds=parse_seconds(
                "GENTLY_STARTUP_RETRY_SECONDS", get("GENTLY_STARTUP_RETRY_SECONDS"), 60.0
            ),
            status_port=status_port_of(status_port, webhook_url, get("GENTLY_WEBHOOK_PORT")),
            status_listen=status_listen,
            alerts=alerts == "on",
            litestream_socket=Path(socket) if (socket := get("GENTLY_LITESTREAM_SOCKET")) else None,
            replica_quiet_seconds=parse_seconds(
                "GENTLY_REPLICA_QUIET_SECONDS", get("GENTLY_REPLICA_QUIET_SECONDS"), 45.0
            ),
        )


LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){LABEL}(\.{LABEL})*$")


def check_url(name: str, url: str, schemes: tuple[str, ...]) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        raise SettingsError(f"{name} is not a valid URL") from None
    host = parts.hostname or ""
    if parts.scheme not in schemes or not (HOSTNAME.match(host) or is_ip(host)):
        wanted = " or ".join(f"{scheme}://" for scheme in schemes)
        raise SettingsError(f"{name} must be a {wanted} address with a valid host")


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def check_listen(name: str, address: str) -> None:
    if address != "localhost" and not (
        is_ip(address) and not ipaddress.ip_address(address).is_multicast
    ):
        raise SettingsError(f"{name} must be an IP address such as 127.0.0.1, not {address!r}")


def parse_seconds(name: str, raw: str | None, default: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if not 0 < value <= 3600:
        raise SettingsError(f"{name} must be a number of seconds between 0 and 3600, not {raw!r}")
    return value


def check_webhook(url: str, secret: str | None) -> None:
    check_url("GENTLY_WEBHOOK_URL", url, ("https",))
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
        raise SettingsError(
            f"{name} must be Telegram user ids separated by commas, not {raw!r}"
        ) from None


def parse_port(name: str, raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 65536:
        raise SettingsError(f"{name} must be a port number between 1 and 65535, not {raw!r}")
    return int(raw)


def status_port_of(raw: str | None, webhook_url: str | None, webhook: str | None) -> int | None:
    if raw is None:
        return None
    port = parse_port("GENTLY_STATUS_PORT", raw)
    if webhook_url and port == parse_port("GENTLY_WEBHOOK_PORT", webhook or "8443"):
        raise SettingsError("GENTLY_STATUS_PORT must differ from GENTLY_WEBHOOK_PORT")
    return port


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as python-dotenv reads them (comments, quotes, `export`). A file
    that cannot be read, or is not UTF-8 text, is one line naming it."""
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SettingsError(f"cannot read {path.absolute()}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path.absolute()} is not UTF-8 text") from None
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)  # a $ is a $
    return {key: value for key, value in values.items() if value is not None}
