"""The application interface the local runtime drives."""

from __future__ import annotations

from typing import Protocol

from sfidl.runtime.manifest import Manifest


class LocalApp(Protocol):
    """A StateFun application: its manifest and the SDK's request/reply entry point."""

    @property
    def manifest(self) -> Manifest:
        """What the application declares: functions, ingresses, egresses, endpoint."""
        ...

    async def handle(self, request: bytes) -> bytes:
        """``ToFunction`` bytes in, ``FromFunction`` bytes out (``RequestReplyHandler.handle_async``)."""
        ...
