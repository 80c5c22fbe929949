"""Refusing to start: one running bot per database (an exclusive lock on a file beside it,
naming the holder), and start-up failures that end in one line."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from bot.store import private_folders


class AlreadyRunning(Exception):
    pass


class StartupFailed(Exception):
    """One line for the operator; the process exits 1 (a restart may succeed)."""


class Misconfigured(StartupFailed):
    """A start-up failure no restart can mend (a rejected token, a wrong Bot API
    address): the process exits 78, which the recipes tell their supervisor not to
    restart."""


class InstanceLock:
    """Keyed on the database file itself: a lock file beside its real path (symlinks
    resolved) that names the holder, and a lock on the database file's own inode, so a
    database renamed or moved under a running bot is still the same one (a second hard
    link is refused before this, by `check_database_file`)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(os.path.realpath(db_path))
        self.path = Path(f"{self.db_path}.lock")
        self._fd: int | None = None
        self._db_fd: int | None = None

    def acquire(self) -> None:
        try:
            private_folders(self.path.parent)
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
        self._lock_database()

    def _lock_database(self) -> None:
        """flock, not SQLite's own fcntl locks: the two never interact on Linux, and this
        one follows the inode whatever name it is opened by."""
        try:
            fd = os.open(self.db_path, os.O_RDONLY | os.O_CREAT, 0o600)
        except OSError as error:
            self.release()
            raise StartupFailed(f"cannot open {self.db_path} ({error.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            self.release()
            raise AlreadyRunning(
                f"another Gently already has {self.db_path} open, under another name (it "
                "was renamed or moved while running); stop it first"
            ) from None
        self._db_fd = fd

    def release(self) -> None:
        for fd in (self._db_fd, self._fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._db_fd = None
