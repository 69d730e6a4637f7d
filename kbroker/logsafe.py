"""Log lines a client cannot forge or flood.

Client ids, topic names, group and member ids reach the logs from the wire. `escape` renders control characters
(newlines, ANSI escapes, bidi overrides) visibly, so that no client can fake a log line or repaint a terminal;
`SafeFormatter` applies it to every message (not to tracebacks, which are the broker's own), so that every
module's log calls are covered. `Throttled` keeps per-connection noise (a fuzzer's malformed frames) to a few
lines per interval, with a count of what it left out.
"""
from __future__ import annotations

import logging
import re
import time

# C0 and C1 controls (tab kept), DEL, and the Unicode format characters that reorder or hide text
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _visible(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: object) -> str:
    """`text` with control and bidi characters written as \\xNN / \\uNNNN."""
    return _UNSAFE.sub(_visible, str(text))


class SafeFormatter(logging.Formatter):
    """A Formatter whose messages are escaped (tracebacks, appended after, are left alone)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)


class Throttled:
    """At most `burst` lines per `interval` seconds of each kind of message (its format string) through one logger;
    the rest are counted and the count reported with the next line of that kind let through. Kinds are limited
    separately, so that a flood of one (refused connections) does not hide another (a read timeout)."""

    MAX_KINDS = 64  # format strings are call sites, a handful each; past this many, kinds share one window

    def __init__(self, logger: logging.Logger, burst: int = 10, interval: float = 10.0) -> None:
        self.logger = logger
        self.burst = burst
        self.interval = interval
        self._kinds: dict[str, list] = {}  # format string -> [window start, lines in it, lines dropped]

    def log(self, level: int, msg: str, *args: object) -> None:
        if not self.logger.isEnabledFor(level):
            return
        kind = msg if msg in self._kinds or len(self._kinds) < self.MAX_KINDS else ""
        state = self._kinds.setdefault(kind, [float("-inf"), 0, 0])
        now = time.monotonic()
        if now - state[0] >= self.interval:
            state[0], state[1] = now, 0
        if state[1] >= self.burst:
            state[2] += 1
            return
        state[1] += 1
        if state[2]:
            msg += " (%d similar line(s) suppressed)"
            args = (*args, state[2])
            state[2] = 0
        self.logger.log(level, msg, *args)
