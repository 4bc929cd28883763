"""IO rules: the topics and streams ingresses read and egresses write, and their types."""

from __future__ import annotations

from collections.abc import Iterator

from sfidl.breaking.pair import Pair
from sfidl.breaking.rule import Category, Change, Rule
from sfidl.diagnostics import Severity
from sfidl.model import Egress, Ingress


def _kept_ingresses(pair: Pair) -> Iterator[tuple[Ingress, Ingress]]:
    new = {i.name: i for i in pair.new.ingresses}
    for old in pair.old.ingresses:
        if old.name in new:
            yield old, new[old.name]


def _kept_egresses(pair: Pair) -> Iterator[tuple[Egress, Egress]]:
    new = {e.name: e for e in pair.new.egresses}
    for old in pair.old.egresses:
        if old.name in new:
            yield old, new[old.name]


def _channel(kind: str, name: str) -> str:
    return f"{kind} {'topic' if kind == 'kafka' else 'stream'} \"{name}\""


def _ingress_source(pair: Pair) -> Iterator[Change]:
    for old, new in _kept_ingresses(pair):
        if (old.kind, old.source) != (new.kind, new.source):
            yield Change(
                new.span,
                f"the ingress `{new.name}` read {_channel(old.kind.value, old.source)} "
                f"and now reads {_channel(new.kind.value, new.source)}",
                old.span,
            )


def _ingress_type(pair: Pair) -> Iterator[Change]:
    for old, new in _kept_ingresses(pair):
        before, after = old.target.request, new.target.request
        if not pair.same_type(before, after):
            yield Change(
                new.span,
                f"the ingress `{new.name}` took `{before.local_name}` and now takes "
                f"`{after.local_name}`",
                old.span,
            )


def _egress_sink(pair: Pair) -> Iterator[Change]:
    for old, new in _kept_egresses(pair):
        if (old.kind, old.sink) != (new.kind, new.sink):
            yield Change(
                new.span,
                f"the egress `{new.name}` wrote to {_channel(old.kind.value, old.sink)} "
                f"and now writes to {_channel(new.kind.value, new.sink)}",
                old.span,
            )


def _egress_type(pair: Pair) -> Iterator[Change]:
    for old, new in _kept_egresses(pair):
        if not pair.same_type(old.message, new.message):
            before = old.message.local_name if old.message else "dead letters"
            after = new.message.local_name if new.message else "dead letters"
            yield Change(
                new.span,
                f"the egress `{new.name}` wrote `{before}` and now writes `{after}`",
                old.span,
            )


RULES = (
    Rule(
        "INGRESS_SOURCE",
        Category.IO,
        Severity.ERROR,
        "records producers still write to the old topic or stream are no longer read, "
        "and the new one is read from the startup position",
        "add a second ingress for the new topic; remove the old one once producers moved",
        _ingress_source,
    ),
    Rule(
        "INGRESS_TYPE",
        Category.IO,
        Severity.ERROR,
        "records already in the topic, and those producers still write, are encoded as "
        "the old type and are decoded as the new one",
        "read the new type from a new topic through a new ingress and handler",
        _ingress_type,
    ),
    Rule(
        "EGRESS_SINK",
        Category.IO,
        Severity.ERROR,
        "consumers of the old topic or stream receive nothing more",
        "write to both until every consumer moved, through a second egress",
        _egress_sink,
    ),
    Rule(
        "EGRESS_TYPE",
        Category.IO,
        Severity.ERROR,
        "consumers decode the records with the type they know: the new type's records "
        "decode wrongly or not at all",
        "write the new type to a new topic through a new egress",
        _egress_type,
    ),
)
