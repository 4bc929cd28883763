"""CALLS rules: handlers, calls, deferred replies and timers with work pending at deploy time.

A deploy does not wait for calls to finish: replies, call timeouts, deferred replies and
timers recorded by the old version (in sfidl's hidden state and in StateFun's delayed
messages) are handled by the new one. The runtime library drops what it can no longer
take, with a log line, rather than failing the job: the work they were part of is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from sfidl.breaking.pair import Pair
from sfidl.breaking.rule import Category, Change, Rule
from sfidl.diagnostics import Severity
from sfidl.model import Call, Function, Handler, HandlerKind, RpcRef, Timer, TypeRef


def _kept_handlers(pair: Pair) -> Iterator[tuple[Function, Handler, Handler]]:
    for old_function, new_function in pair.kept_functions():
        handlers = {h.name: h for h in new_function.handlers}
        for old in old_function.handlers:
            new = handlers.get(old.name)
            if new is not None:
                yield new_function, old, new


def _name(ref: TypeRef | None) -> str:
    return "nothing" if ref is None else f"`{ref.local_name}`"


def _removed_members(
    pair: Pair, members: Callable[[Function], Sequence[Handler | Timer]], what: str
) -> Iterator[Change]:
    """A handler or timer of a function both versions have, gone from the new one."""
    for old_function, new_function in pair.kept_functions():
        names = {m.name for m in members(new_function)}
        for old in members(old_function):
            if old.name not in names:
                yield Change(
                    new_function.span,
                    f"the {what} `{new_function.name}.{old.name}` was removed",
                    old.span,
                )


def _handler_no_delete(pair: Pair) -> Iterator[Change]:
    return _removed_members(pair, lambda f: f.handlers, "handler")


def _handler_kind(pair: Pair) -> Iterator[Change]:
    for function, old, new in _kept_handlers(pair):
        if old.kind is not new.kind:
            word = {HandlerKind.RPC: "`rpc`", HandlerKind.ONEWAY: "one-way `on`"}
            yield Change(
                new.span,
                f"`{function.name}.{new.name}` changed from {word[old.kind]} to {word[new.kind]}",
                old.span,
            )


def _handler_request_type(pair: Pair) -> Iterator[Change]:
    for function, old, new in _kept_handlers(pair):
        if old.kind is new.kind and not pair.same_type(old.request, new.request):
            yield Change(
                new.span,
                f"the request of `{function.name}.{new.name}` changed from "
                f"{_name(old.request)} to {_name(new.request)}",
                old.span,
            )


def _rpc_reply_type(pair: Pair) -> Iterator[Change]:
    for function, old, new in _kept_handlers(pair):
        if old.kind is HandlerKind.RPC is new.kind and not pair.same_type(old.reply, new.reply):
            yield Change(
                new.span,
                f"the reply of `{function.name}.{new.name}` changed from {_name(old.reply)} "
                f"to {_name(new.reply)}",
                old.span,
            )


def _rpc_errors(pair: Pair) -> Iterator[Change]:
    for function, old, new in _kept_handlers(pair):
        if old.kind is not HandlerKind.RPC or new.kind is not HandlerKind.RPC:
            continue
        # The reply envelope numbers errors in the order `raises` lists them, from 3.
        kept = len(old.errors) <= len(new.errors) and all(
            pair.same_type(o, n) for o, n in zip(old.errors, new.errors)
        )
        if not kept:
            before = ", ".join(e.local_name for e in old.errors) or "nothing"
            after = ", ".join(e.local_name for e in new.errors) or "nothing"
            yield Change(
                new.span,
                f"`{function.name}.{new.name}` raised {before} and now raises {after}",
                old.span,
            )


def _deferred_reply_removed(pair: Pair) -> Iterator[Change]:
    for old_function, new_function in pair.kept_functions():
        for old in old_function.handlers:
            if old_function.defers(old.name) and not new_function.defers(old.name):
                new = next((h for h in new_function.handlers if h.name == old.name), None)
                yield Change(
                    new.span if new is not None else new_function.span,
                    f"no member of `{new_function.name}` completes `{old.name}` any more",
                    old.span,
                )


def _continuations(function: Function) -> dict[str, Call]:
    return {call.continuation: call for call in function.calls}


def _targets(call: Call) -> tuple[tuple[str, str], ...]:
    return tuple((t.function_typename, t.handler) for t in call.targets)


def _written(targets: tuple[RpcRef, ...]) -> str:
    text = ", ".join(f"{t.function}.{t.handler}" for t in targets)
    return f"({text})" if len(targets) > 1 else text


def _kept_calls(pair: Pair) -> Iterator[tuple[Function, Call, Call]]:
    for old_function, new_function in pair.kept_functions():
        calls = _continuations(new_function)
        for name, old in _continuations(old_function).items():
            new = calls.get(name)
            if new is not None:
                yield new_function, old, new


def _continuation_no_delete(pair: Pair) -> Iterator[Change]:
    for old_function, new_function in pair.kept_functions():
        calls = _continuations(new_function)
        for name, old in _continuations(old_function).items():
            if name not in calls:
                yield Change(
                    new_function.span,
                    f"no call of `{new_function.name}` continues at `{name}` any more "
                    f"(it received {_written(old.targets)})",
                    old.span,
                )


def _continuation_targets(pair: Pair) -> Iterator[Change]:
    for function, old, new in _kept_calls(pair):
        if _targets(old) != _targets(new):
            yield Change(
                new.span,
                f"the continuation `{function.name}.{new.continuation}` received "
                f"{_written(old.targets)} and now receives {_written(new.targets)}",
                old.span,
            )


def _same_outcome(pair: Pair, old: RpcRef, new: RpcRef) -> bool:
    """Whether what a pending call recorded and will receive still decodes as declared."""
    return (
        pair.same_type(old.request, new.request)
        and pair.same_type(old.reply, new.reply)
        and len(old.errors) <= len(new.errors)
        and all(pair.same_type(o, n) for o, n in zip(old.errors, new.errors))
    )


def _outcome(rpc: RpcRef) -> str:
    raises = f" raises {', '.join(e.local_name for e in rpc.errors)}" if rpc.errors else ""
    return f"{rpc.function}.{rpc.handler}({rpc.request.local_name}) returns {rpc.reply.local_name}{raises}"


def _continuation_outcome(pair: Pair) -> Iterator[Change]:
    for function, old, new in _kept_calls(pair):
        if _targets(old) != _targets(new):
            continue  # CONTINUATION_TARGETS
        for before, after in zip(old.targets, new.targets):
            if not _same_outcome(pair, before, after):
                yield Change(
                    new.span,
                    f"the continuation `{function.name}.{new.continuation}` receives the "
                    f"outcome of `{_outcome(before)}`, now `{_outcome(after)}`",
                    old.span,
                )


def _call_carried_type(pair: Pair) -> Iterator[Change]:
    for function, old, new in _kept_calls(pair):
        if new.carries is not None and not pair.same_type(old.carries, new.carries):
            yield Change(
                new.span,
                f"the call continuing at `{function.name}.{new.continuation}` carried "
                f"{_name(old.carries)} and now carries {_name(new.carries)}",
                old.span,
            )


def _call_timeout_removed(pair: Pair) -> Iterator[Change]:
    for function, old, new in _kept_calls(pair):
        if old.timeout_millis is not None and new.timeout_millis is None:
            yield Change(
                new.span,
                f"the call continuing at `{function.name}.{new.continuation}` lost its timeout",
                old.span,
            )


def _timer_no_delete(pair: Pair) -> Iterator[Change]:
    return _removed_members(pair, lambda f: f.timers, "timer")


def _timer_message_type(pair: Pair) -> Iterator[Change]:
    for old_function, new_function in pair.kept_functions():
        timers = {t.name: t for t in new_function.timers}
        for old in old_function.timers:
            new = timers.get(old.name)
            if new is not None and not pair.same_type(old.message, new.message):
                yield Change(
                    new.span,
                    f"the timer `{new_function.name}.{new.name}` carried {_name(old.message)} "
                    f"and now carries {_name(new.message)}",
                    old.span,
                )


_KEEP = "keep the old member beside the new one until nothing of the old version can be pending"

# Removing a function's last call or deferred reply (with no timer or `exclusive` left)
# is the only way it stops keeping the hidden state while something may be pending there
# (an exclusive instance holds messages only while a call or deferred reply is pending;
# timers keep only the counter there).
_HIDDEN_STATE_LOST = (
    "A function left with no call, deferred reply, timer or `exclusive` keeps no hidden "
    "state: what the old version recorded there is lost at once (messages an exclusive "
    "instance held never run) and comes back stale if a later version keeps it again"
)

RULES = (
    Rule(
        "HANDLER_NO_DELETE",
        Category.CALLS,
        Severity.ERROR,
        "messages and calls in flight for it (from ingresses, other functions, held by an "
        "exclusive instance) find no handler and become dead letters; callers wait for "
        "their timeout",
        _KEEP,
        _handler_no_delete,
    ),
    Rule(
        "HANDLER_KIND",
        Category.CALLS,
        Severity.ERROR,
        "an rpc receives call envelopes and a one-way handler bare requests: what is in "
        "flight for the old kind finds no handler and becomes a dead letter",
        "add a handler under a new name beside the old one",
        _handler_kind,
    ),
    Rule(
        "HANDLER_REQUEST_TYPE",
        Category.CALLS,
        Severity.ERROR,
        "requests in flight (and the requests a pending call recorded for its "
        "continuation) were encoded as the old type: a one-way handler no longer "
        "receives them (dead letters), an rpc decodes them as the new type",
        "add a handler under a new name for the new type; remove the old one later",
        _handler_request_type,
    ),
    Rule(
        "RPC_REPLY_TYPE",
        Category.CALLS,
        Severity.ERROR,
        "replies in flight (and deferred ones) were encoded as the old type: the "
        "caller's continuation decodes them as the new type, or drops the call when "
        "they do not decode",
        "add an rpc under a new name with the new reply; remove the old one later",
        _rpc_reply_type,
    ),
    Rule(
        "RPC_ERRORS",
        Category.CALLS,
        Severity.ERROR,
        "the reply envelope numbers errors in `raises` order: with one removed or "
        "reordered, an error in flight reaches the caller as another error or as no "
        "outcome at all",
        "only append errors at the end of `raises`; to remove one, add a new rpc",
        _rpc_errors,
    ),
    Rule(
        "DEFERRED_REPLY_REMOVED",
        Category.CALLS,
        Severity.ERROR,
        "replies the old version deferred can no longer be completed: the runtime "
        "forgets them and their callers only get their timeout. " + _HIDDEN_STATE_LOST,
        "keep a member that `completes` it until no deferred reply can be pending",
        _deferred_reply_removed,
    ),
    Rule(
        "CONTINUATION_NO_DELETE",
        Category.CALLS,
        Severity.ERROR,
        "calls pending in the hidden state still name it: when their replies or "
        "timeouts come, the runtime drops the call with a log line and the work it "
        "was part of never finishes. " + _HIDDEN_STATE_LOST,
        _KEEP,
        _continuation_no_delete,
    ),
    Rule(
        "CONTINUATION_TARGETS",
        Category.CALLS,
        Severity.ERROR,
        "calls pending for it were made to the old targets: the runtime drops them "
        "when their replies come, and the work they were part of never finishes",
        "give the new calls a new continuation; keep the old one until none can be pending",
        _continuation_targets,
    ),
    Rule(
        "CONTINUATION_OUTCOME",
        Category.CALLS,
        Severity.ERROR,
        "calls pending for it recorded the old request, and the old version of the "
        "callee may still answer them: the continuation decodes the old request, reply "
        "or error as the new type, or the call is dropped",
        "give the calls to the changed rpc a new continuation; keep the old one until "
        "none can be pending",
        _continuation_outcome,
    ),
    Rule(
        "CALL_CARRIED_TYPE",
        Category.CALLS,
        Severity.ERROR,
        "pending calls carry a value of the old type (or none): the continuation "
        "decodes it as the new type, gets an empty one, or the call is dropped",
        "give the new calls a new continuation; keep the old one until none can be pending",
        _call_carried_type,
    ),
    Rule(
        "CALL_TIMEOUT_REMOVED",
        Category.CALLS,
        Severity.WARNING,
        "calls made from now on wait for their reply forever (an exclusive instance "
        "holds every other message meanwhile); calls already pending keep their timeout",
        "keep a timeout, a long one if need be",
        _call_timeout_removed,
    ),
    Rule(
        "TIMER_NO_DELETE",
        Category.CALLS,
        Severity.ERROR,
        "timers set by the old version are still delayed in StateFun: when they fire, "
        "the runtime finds no timer of that name and makes them dead letters",
        _KEEP,
        _timer_no_delete,
    ),
    Rule(
        "TIMER_MESSAGE_TYPE",
        Category.CALLS,
        Severity.ERROR,
        "timers set by the old version fire with a message of the old type: it is "
        "decoded as the new one, or the timer becomes a dead letter",
        "add a timer under a new name; keep the old one until none can be pending",
        _timer_message_type,
    ),
)
