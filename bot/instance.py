"""Refusing to start: one running bot per database (an exclusive lock on a file beside it,
naming the holder), and start-up failures that end in one line."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class AlreadyRunning(Exception):
    pass


class StartupFailed(Exception):
    """One line for the operator; the process exits 1."""


class InstanceLock:
    """Keyed on the database file itself: its path with every symlink resolved (a second
    hard link is refused before this, by `check_database_file`)."""

    def __init__(self, db_path: Path) -> None:
        self.path = Path(f"{os.path.realpath(db_path)}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise StartupFailed(
                f"cannot use the data directory {self.path.parent} ({error.strerror}); "
                "check that it exists and this user may write to it"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(
                f"another Gently (pid {holder}) is already running on {self.path.parent}; "
                "stop it first (two would split the updates and lose progress)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd  # held until the process ends; the kernel releases it even on a crash

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
