"""The application interface the local runtime drives."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class ClockedApp(Protocol):
    """An application whose handlers read time from a clock it can be given (sfidl's ``Application``).

    Optional: the local runtime gives an in-process application that has ``use_clock``
    its own clock, so handlers see the engine's time (virtual under the test harness).
    """

    def use_clock(self, now_ms: Callable[[], int]) -> None:
        """From now on, read the time (epoch milliseconds) from ``now_ms``."""
        ...


@runtime_checkable
class DeclaresStates(Protocol):
    """An application that can say which states a function declares (sfidl's ``Application``).

    Optional: with it, the test harness reads a state never written as its default and
    refuses a state name the function does not declare.
    """

    def state_defaults(self, typename: str) -> Mapping[str, object]:
        """Each state function type ``typename`` declares, and what it reads as when absent."""
        ...
