"""What log lines call a user: a short keyed hash of their id, never the id itself, so a
line in journald or Docker's logs does not outlive /delete, yet lines about one user can
still be read together. The key is random per install, kept beside the database
(`<database>.logkey`, mode 0600); without it a hash cannot be traced back to an id. Until
`use_key_beside` is called (the console, tests) a key for this process alone is used."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_BYTES = 32
_key = secrets.token_bytes(KEY_BYTES)


def key_path(db_path: Path) -> Path:
    return Path(f"{db_path}.logkey")


def use_key_beside(db_path: Path) -> None:
    """Read the install's key, creating it (0600) the first time."""
    global _key
    path = key_path(db_path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) == KEY_BYTES:
            _key = key
            return
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)  # damaged: a new key, new names
    key = secrets.token_bytes(KEY_BYTES)
    with os.fdopen(fd, "wb") as file:
        file.write(key)
    _key = key


def who(user_id: int | None) -> str:
    """`u-` and ten hex digits standing for the user in log lines."""
    if user_id is None:
        return "u-none"
    digest = hmac.new(_key, str(user_id).encode(), hashlib.sha256).hexdigest()
    return f"u-{digest[:10]}"
