"""The base of every piece of a generated context."""

from __future__ import annotations

from sfidl.runtime.invocation import Invocation


class Part:
    """A piece of a context (state, functions, egress, timers, joins) over one invocation.

    A generated context makes one at each access (``ctx.state`` is ``State(invocation)``):
    it holds nothing but the invocation, so that costs less than a cache of them in every
    context (most handlers use a part once or twice).
    """

    __slots__ = ("_invocation",)

    def __init__(self, invocation: Invocation) -> None:
        self._invocation = invocation
