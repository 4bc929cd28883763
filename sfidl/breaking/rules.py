"""Every rule, in the order findings on one declaration are reported."""

from __future__ import annotations

from sfidl.breaking import calls, io, messages, states, typenames
from sfidl.breaking.rule import Rule

RULES: tuple[Rule, ...] = (
    *messages.RULES,
    *typenames.RULES,
    *states.RULES,
    *calls.RULES,
    *io.RULES,
)
