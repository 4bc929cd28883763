"""The base of every piece of a generated context."""

from __future__ import annotations

from sfidl.runtime.invocation import Invocation


class Part:
    """A piece of a context (state, functions, egress, timers, joins) over one invocation."""

    __slots__ = ("_invocation",)

    def __init__(self, invocation: Invocation) -> None:
        self._invocation = invocation
