"""TYPENAME rules, and the WIRE rule for messages StateFun addresses by typename.

StateFun routes and stores by typename: a function's (``ns/user_cart``), an ingress's or
egress's id, a one-way request's message typename, a state's type. Data written under an
old typename stays addressed to it after a deploy.
"""

from __future__ import annotations

from collections.abc import Iterator

from sfidl.breaking.pair import Pair
from sfidl.breaking.rule import Category, Change, Rule
from sfidl.diagnostics import Severity
from sfidl.model import HandlerKind, TypeKind


def _by_typename(pair: Pair) -> dict[str, str]:
    """Messages the old program put on the wire by typename -> the first use, described."""
    used: dict[str, str] = {}
    for function in pair.old.functions:
        for handler in function.handlers:
            if handler.kind is HandlerKind.ONEWAY:
                used.setdefault(
                    handler.request.name, f"the request of `{function.name}.{handler.name}`"
                )
        for state in function.states:
            if state.type.kind is TypeKind.MESSAGE:
                used.setdefault(state.type.name, f"the state `{function.name}.{state.name}`")
    for ingress in pair.old.ingresses:
        used.setdefault(ingress.target.request.name, f"the ingress `{ingress.name}`")
    return used


def _message_gone(pair: Pair, renamed: bool) -> Iterator[Change]:
    for name, use in _by_typename(pair).items():
        if pair.translate(name) in pair.new_messages:
            continue
        old = pair.old_messages[name]
        new_name = pair.renamed.get(name)
        if renamed and new_name is not None:
            new = pair.new_messages[new_name]
            yield Change(
                new.span,
                f"`{old.full_name}` was renamed to `{new.full_name}`, and the old version "
                f"addresses it by typename: {use}",
                old.span,
            )
        elif not renamed and new_name is None:
            yield Change(
                pair.root_span,
                f"`{old.full_name}` was removed, and the old version addresses it by "
                f"typename: {use}",
                old.span,
            )


def _message_no_delete(pair: Pair) -> Iterator[Change]:
    return _message_gone(pair, renamed=False)


def _message_typename(pair: Pair) -> Iterator[Change]:
    return _message_gone(pair, renamed=True)


def _namespace_same(pair: Pair) -> Iterator[Change]:
    if pair.old.namespace != pair.new.namespace:
        yield Change(
            pair.root_span,
            f"the namespace changed from `{pair.old.namespace}` to `{pair.new.namespace}`: "
            "every function, ingress, egress and message typename of the file changes",
            None,
        )


def _function_typename(pair: Pair) -> Iterator[Change]:
    for name, old in pair.old_functions.items():
        if name not in pair.new_functions:
            yield Change(
                pair.root_span,
                f"the function `{name}` (`{old.typename}`) was removed or renamed",
                old.span,
            )


def _ingress_typename(pair: Pair) -> Iterator[Change]:
    names = {i.name for i in pair.new.ingresses}
    for old in pair.old.ingresses:
        if old.name not in names:
            yield Change(
                pair.root_span,
                f"the ingress `{old.name}` (`{old.typename}`) was removed or renamed",
                old.span,
            )


def _egress_typename(pair: Pair) -> Iterator[Change]:
    names = {e.name for e in pair.new.egresses}
    for old in pair.old.egresses:
        if old.name not in names:
            yield Change(
                pair.root_span,
                f"the egress `{old.name}` (`{old.typename}`) was removed or renamed",
                old.span,
            )


RULES = (
    Rule(
        "MESSAGE_NO_DELETE",
        Category.WIRE,
        Severity.ERROR,
        "messages in flight, held or delayed under its typename, and state of its type, "
        "have no type left to decode into: they become dead letters or lost state",
        "keep the message (deprecate it in its doc comment) until nothing of it is in flight",
        _message_no_delete,
    ),
    Rule(
        "NAMESPACE_SAME",
        Category.TYPENAME,
        Severity.ERROR,
        "StateFun addresses functions, state, ingresses and egresses by typename: "
        "everything under the old namespace (state, in-flight messages) is left behind",
        "keep the namespace; start a new application for a new one",
        _namespace_same,
    ),
    Rule(
        "FUNCTION_TYPENAME",
        Category.TYPENAME,
        Severity.ERROR,
        "its instances' state stays under the old typename, and messages still addressed "
        "to it get a 404 from the endpoint, which StateFun retries until the job fails",
        "keep the function until nothing sends to it and its state is no longer needed; "
        "add a new function beside it instead of renaming",
        _function_typename,
    ),
    Rule(
        "MESSAGE_TYPENAME",
        Category.TYPENAME,
        Severity.ERROR,
        "messages in flight, delayed or held under the old typename find no handler "
        "(dead letters), and a state of that type fails the StateFun job",
        "keep the old name; a new message type needs a new handler or state beside the old",
        _message_typename,
    ),
    Rule(
        "INGRESS_TYPENAME",
        Category.TYPENAME,
        Severity.ERROR,
        "the ingress id names a source of the StateFun job: a renamed ingress is a new "
        "source, which reads its topic from the startup position (`earliest`: again "
        "from the start) unless the job restores the old one's offsets",
        "keep the ingress name",
        _ingress_typename,
    ),
    Rule(
        "EGRESS_TYPENAME",
        Category.TYPENAME,
        Severity.ERROR,
        "functions and the StateFun job deploy separately: whichever side still uses the "
        "old egress id sends to an egress the other does not bind, and StateFun fails "
        "the job with `Unknown egress`",
        "keep the egress name; add the new egress beside the old, deploy, then remove the old",
        _egress_typename,
    ),
)
