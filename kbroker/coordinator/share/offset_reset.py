"""share.auto.offset.reset values: latest, earliest, or by_duration:<ISO-8601 duration> (KIP-932)."""
from __future__ import annotations

import re

_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", re.IGNORECASE)


def duration_ms(text: str) -> int | None:
    """An ISO-8601 duration (PnDTnHnMn.nS, as Java's Duration.parse takes it) in ms; None if unreadable."""
    m = _DURATION.fullmatch(text.strip())
    if not m or text.strip().upper() in ("P", "PT"):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    return int(((days * 24 + hours) * 60 + minutes) * 60_000 + seconds * 1000)


def valid_auto_offset_reset(text: str) -> bool:
    value = text.strip().lower()
    if value in ("latest", "earliest"):
        return True
    return value.startswith("by_duration:") and duration_ms(value.split(":", 1)[1]) is not None
