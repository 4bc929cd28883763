"""What a breaking-change rule is: data (id, category, severity, reason, fix) and a check.

A rule's ``check`` compares the old and the new checked models (a :class:`Pair`) and
yields one :class:`Change` per problem it sees; the runner turns changes into findings,
applies the suppressions and the category filter.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from sfidl.diagnostics import Severity, Span

if TYPE_CHECKING:
    from sfidl.breaking.pair import Pair


class Category(Enum):
    """What a rule protects; ``--categories`` and ``--except`` select by these."""

    WIRE = "WIRE"  # protobuf binary encoding of messages
    JSON = "JSON"  # their JSON form (HTTP ingress, playground)
    TYPENAME = "TYPENAME"  # StateFun typenames messages and state are addressed by
    STATE = "STATE"  # persisted function state
    CALLS = "CALLS"  # calls, deferred replies and timers pending while the new version deploys
    IO = "IO"  # what ingresses read and egresses write


@dataclass(frozen=True)
class Change:
    """One problem a rule found: where in the new program, what, and where it was before."""

    span: Span  # in the new program
    message: str
    old: Span | None = None  # the old declaration, when there is one to show
    fix: str | None = None  # replaces the rule's general fix when more precise


@dataclass(frozen=True)
class Rule:
    """A breaking-change rule: data, and the function that checks it."""

    id: str
    category: Category
    severity: Severity  # ERROR findings fail the check (exit 1); warnings are only shown
    reason: str  # one line: what the runtime does with data of the old version
    fix: str  # how to make the change safely
    check: Callable[[Pair], Iterator[Change]]


@dataclass(frozen=True)
class Finding:
    """A change a rule flagged, ready to report."""

    rule: Rule
    change: Change

    @property
    def span(self) -> Span:
        return self.change.span

    @property
    def fix(self) -> str:
        return self.change.fix or self.rule.fix


def parse_categories(text: str) -> frozenset[Category]:
    """``STATE,CALLS`` -> those categories; an unknown name is an argparse error."""
    chosen = set()
    for word in (w.strip().upper() for w in text.split(",")):
        try:
            chosen.add(Category(word))
        except ValueError:
            names = ", ".join(c.value for c in Category)
            raise argparse.ArgumentTypeError(
                f"unknown category {word!r} (one of {names})"
            ) from None
    return frozenset(chosen)
