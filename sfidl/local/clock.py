"""Time as the engine sees it: epoch milliseconds, from the wall clock or a virtual one."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Protocol

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MILLISECOND = timedelta(milliseconds=1)


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the epoch."""
        ...


class SystemClock:
    """The wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class VirtualClock:
    """A clock that moves only when told to (the test harness)."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2024, 1, 1, tzinfo=timezone.utc)
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        self._now = (start - EPOCH) // MILLISECOND

    def now_ms(self) -> int:
        return self._now

    def set(self, now_ms: int) -> None:
        if now_ms < self._now:
            raise ValueError("a virtual clock never goes back")
        self._now = now_ms

    def datetime(self) -> datetime:
        return EPOCH + self._now * MILLISECOND
