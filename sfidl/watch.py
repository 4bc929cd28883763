"""Noticing that source files changed, by polling (no file-system events: no dependency).

Each poll stats the watched files; a file whose modification time or size moved is read and
hashed, and only a different content (or a file appearing or going away) counts as a
change, so a ``touch`` or an editor's save of the same text does nothing. A change is
reported once the files have been quiet for the debounce interval, so the burst of writes
an editor or a ``git checkout`` makes gives one rebuild.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

POLL_S = 0.1
DEBOUNCE_S = 0.25


@dataclass(frozen=True)
class _Seen:
    mtime_ns: int
    size: int
    digest: str


def _look(path: Path, before: _Seen | None) -> _Seen | None:
    """What ``path`` holds now (None: it cannot be read); re-hashed only when its stat moved."""
    try:
        stat = os.stat(path)
        if before is not None and (stat.st_mtime_ns, stat.st_size) == (
            before.mtime_ns,
            before.size,
        ):
            return before
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
    return _Seen(stat.st_mtime_ns, stat.st_size, digest)


class Watcher:
    """The contents of a set of files, and whether they changed since the last :meth:`watch`."""

    def __init__(self, *, poll_s: float = POLL_S, debounce_s: float = DEBOUNCE_S) -> None:
        self.poll_s = poll_s
        self.debounce_s = debounce_s
        self._seen: dict[Path, _Seen | None] = {}

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(sorted(self._seen))

    def watch(self, paths: Iterable[Path]) -> None:
        """From now on watch ``paths`` (resolved), taking what they hold now as the baseline."""
        self._seen = {path: _look(path, None) for path in {p.resolve() for p in paths}}

    def _changed(self) -> bool:
        changed = False
        for path, before in self._seen.items():
            now = _look(path, before)
            if now is not before and (now is None or before is None or now.digest != before.digest):
                changed = True
            self._seen[path] = now
        return changed

    def _settle(self) -> None:
        """Poll until nothing changed for the debounce interval (a burst of writes ends)."""
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < self.debounce_s:
            time.sleep(self.poll_s)
            if self._changed():
                quiet_since = time.monotonic()

    def wait(self) -> None:
        """Block until a watched file changed and the writes settled."""
        while not self._changed():
            time.sleep(self.poll_s)
        self._settle()

    async def wait_async(self) -> None:
        """:meth:`wait` for an event loop: the loop runs between polls."""
        while not self._changed():
            await asyncio.sleep(self.poll_s)
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < self.debounce_s:
            await asyncio.sleep(self.poll_s)
            if self._changed():
                quiet_since = time.monotonic()
