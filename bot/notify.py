"""systemd's notify protocol, by hand: one datagram per state to the socket in
`NOTIFY_SOCKET` (a path, or an abstract name written with a leading "@"). `READY=1` once
start-up checks passed and updates are being received, `WATCHDOG=1` from each healthy
heartbeat, `STOPPING=1` at shutdown. Without `NOTIFY_SOCKET` it does nothing.

systemd sets `WATCHDOG_USEC` when the unit has `WatchdogSec=`: the heartbeat then runs at
least twice per watchdog interval, as sd_watchdog_enabled(3) advises."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)

MIN_BEAT = 0.5  # seconds: a tiny WatchdogSec must not turn the heartbeat into a busy loop


class Notifier:
    def __init__(self, address: str | None, watchdog_seconds: float | None = None) -> None:
        if address and address.startswith("@"):
            address = "\0" + address[1:]  # the abstract namespace
        self.address = address or None
        self.watchdog_seconds = watchdog_seconds
        self._failed = False
        self._ready = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        environ = os.environ if environ is None else environ
        usec = environ.get("WATCHDOG_USEC", "")
        watchdog = int(usec) / 1_000_000 if usec.isdigit() and int(usec) > 0 else None
        return cls(environ.get("NOTIFY_SOCKET"), watchdog)

    def heartbeat_every(self, default: float) -> float:
        """How often to beat: twice per watchdog interval when systemd watches."""
        if self.watchdog_seconds is None:
            return default
        return max(MIN_BEAT, min(default, self.watchdog_seconds / 2))

    def ready(self) -> None:
        self._ready = True
        self._send("READY=1")

    def watchdog(self) -> None:
        if self._ready:  # systemd watches from READY=1 to STOPPING=1
            self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._ready = False
        self._send("STOPPING=1")

    def _send(self, state: str) -> None:
        if self.address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                # never wait: a notify socket nobody reads would otherwise freeze the bot
                sock.sendto(state.encode(), socket.MSG_DONTWAIT, self.address)
        except OSError as error:
            if not self._failed:  # one line, not one a heartbeat
                log.warning("cannot notify systemd at NOTIFY_SOCKET: %s", error.strerror or error)
            self._failed = True
        else:
            self._failed = False
