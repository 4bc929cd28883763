"""What handlers may do: `calls`, `sends` and `emits`, checked against the whole program;
and the assembly of each checked function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sfidl import ast, model
from sfidl.check import rules
from sfidl.check.functions import (
    FunctionSignature,
    HandlerSignature,
    claim_continuation,
    message_type,
)
from sfidl.check.names import check_member_name
from sfidl.check.report import Reporter, where
from sfidl.check.scope import Resolver
from sfidl.check.states import build_states, check_duration
from sfidl.diagnostics import Span
from sfidl.model import HandlerKind, TypeRef

Target = tuple[FunctionSignature, HandlerSignature]


@dataclass(frozen=True)
class _Continuation:
    """What one call gives its continuation; every call naming it must agree."""

    targets: tuple[str, ...]  # full names, compared
    carries: str | None
    timeout: int | None
    span: Span
    written: tuple[str, ...]  # the targets as written, for messages
    carries_written: str


class FunctionChecker:
    """Checks the bodies of the functions of one file against all signatures."""

    def __init__(
        self,
        resolver: Resolver,
        report: Reporter,
        signatures: Mapping[str, FunctionSignature],
        egresses: Mapping[str, ast.Egress],
    ) -> None:
        self.resolver = resolver
        self.report = report
        self.signatures = signatures
        self.egresses = egresses
        # Per function: continuation name -> its calls; single rpc target -> continuation.
        self._continuations: dict[str, _Continuation] = {}
        self._single_targets: dict[str, tuple[str, Span]] = {}
        # Per function: the names of its rpc handlers, the candidates of a `completes` hint.
        self._rpcs: dict[str, tuple[str, ...]] = {}

    def function(self, signature: FunctionSignature) -> model.Function:
        node = signature.symbol.node
        self._continuations = {}
        self._single_targets = {}
        handlers: list[model.Handler] = []
        for handler in node.handlers:
            own = signature.handlers[handler.name.text]
            if own.node is not handler:
                continue  # a duplicate, reported
            effects = self._effects(signature, handler)
            if own.request is None:
                continue
            handlers.append(
                model.Handler(
                    name=handler.name.text,
                    kind=own.kind,
                    request=own.request,
                    span=handler.name.span,
                    reply=own.reply,
                    errors=own.errors,
                    call_envelope=own.call_envelope,
                    reply_envelope=own.reply_envelope,
                    calls=effects.calls,
                    sends=effects.sends,
                    emits=effects.emits,
                    sets=effects.sets,
                    completes=effects.completes,
                    doc=handler.doc,
                )
            )
        timers: list[model.Timer] = []
        for timer in node.timers:
            effects = self._effects(signature, timer)
            message = message_type(self.resolver, self.report, timer.message, "timer message")
            if message is not None and signature.timers[timer.name.text] is timer:
                timers.append(
                    model.Timer(
                        timer.name.text,
                        message,
                        timer.name.span,
                        calls=effects.calls,
                        sends=effects.sends,
                        emits=effects.emits,
                        sets=effects.sets,
                        completes=effects.completes,
                        doc=timer.doc,
                    )
                )
        return model.Function(
            name=node.name.text,
            typename=signature.symbol.typename,
            span=node.name.span,
            states=build_states(self.resolver, self.report, node),
            handlers=tuple(handlers),
            timers=tuple(timers),
            doc=node.doc,
            exclusive=node.exclusive,
        )

    def _effects(
        self, signature: FunctionSignature, member: ast.Handler | ast.Timer
    ) -> model.Effects:
        return model.Effects(
            calls=tuple(
                call for decl in member.calls if (call := self._call(signature, decl)) is not None
            ),
            sends=tuple(send for ref in member.sends if (send := self._send(ref)) is not None),
            emits=tuple(name.text for name in member.emits if self._emit(name)),
            sets=_unique(self.report, member.sets, "sets", lambda n: self._sets(signature, n)),
            completes=_unique(
                self.report, member.completes, "completes", lambda n: self._completes(signature, n)
            ),
        )

    def _sets(self, signature: FunctionSignature, name: ast.Name) -> bool:
        if name.text in signature.timers:
            return True
        self.report.error(
            name.span,
            f"`{signature.symbol.name}` has no timer `{name.text}`",
            hint=self.report.did_you_mean(name.text, signature.timers)
            or "`sets` names a `timer` of the same function",
            code=rules.UNKNOWN_TIMER,
        )
        return False

    def _rpc_names(self, signature: FunctionSignature) -> tuple[str, ...]:
        key = signature.symbol.full_name
        if key not in self._rpcs:
            handlers = signature.handlers.items()
            self._rpcs[key] = tuple(n for n, h in handlers if h.kind is HandlerKind.RPC)
        return self._rpcs[key]

    def _completes(self, signature: FunctionSignature, name: ast.Name) -> bool:
        handler = signature.handlers.get(name.text)
        if handler is None:
            self.report.error(
                name.span,
                f"`{signature.symbol.name}` has no rpc `{name.text}`",
                hint=self.report.did_you_mean(name.text, self._rpc_names(signature))
                or "`completes` names an `rpc` of the same function, to answer it later",
                code=rules.UNKNOWN_RPC,
            )
            return False
        if handler.kind is HandlerKind.ONEWAY:
            self.report.error(
                name.span,
                f"`{name.text}` is one-way: it has no reply to complete",
                hint="`completes` names an `rpc` of the same function",
                code=rules.COMPLETES_ONE_WAY,
            )
            return False
        return True

    # -- targets

    def _target(self, ref: ast.HandlerRef) -> Target | None:
        return resolve_target(self.resolver, self.report, self.signatures, ref)

    def _call(self, signature: FunctionSignature, decl: ast.CallDecl) -> model.Call | None:
        ok = True
        targets: list[model.RpcRef] = []
        keys: list[str] = []
        for ref in decl.targets:
            target = self._target(ref)
            if target is None:
                ok = False
                continue
            function, handler = target
            key = f"{function.symbol.full_name}.{handler.node.name.text}"
            if handler.kind is HandlerKind.ONEWAY:
                self.report.error(
                    ref.handler.span,
                    f"`{ref.handler.text}` is one-way: use `sends`",
                    hint="`calls` waits for a reply, which only an `rpc` handler gives",
                    code=rules.CALLS_ONE_WAY,
                )
                ok = False
            elif key in keys:
                self.report.error(
                    ref.span,
                    f"`{ref.text}` is called twice in one join",
                    code=rules.DUPLICATE_JOIN_CALL,
                )
                ok = False
            keys.append(key)
            rpc = _rpc_ref(function, handler)
            if rpc is None:
                ok = False
            else:
                targets.append(rpc)
        name = decl.continuation
        ok = check_member_name(self.report, name, "continuation") and ok
        ok = claim_continuation(self.report, signature, name) and ok
        carries: TypeRef | None = None
        if decl.carrying is not None:
            carries = message_type(
                self.resolver, self.report, decl.carrying, "carried value", errors_allowed=True
            )
            ok = ok and carries is not None
        timeout = None
        if decl.timeout is not None:
            timeout = decl.timeout.millis
            ok = check_duration(self.report, decl.timeout, "timeout") and ok
        if not ok:
            return None
        this = _Continuation(
            tuple(keys),
            carries.name if carries else None,
            timeout,
            decl.continuation.span,
            tuple(ref.text for ref in decl.targets),
            f"`{decl.carrying.text}`" if decl.carrying else "nothing",
        )
        if not self._same_continuation(decl, this, self._continuations.setdefault(name.text, this)):
            return None
        if len(keys) == 1 and not decl.is_join:
            other, span = self._single_targets.setdefault(keys[0], (name.text, name.span))
            if other != name.text:
                self.report.error(
                    name.span,
                    f"`{decl.targets[0].text}` is already called with the continuation `{other}` "
                    f"at {where(span)}",
                    hint=f"a function receives the replies of one rpc in one continuation: use `{other}`",
                    code=rules.CONTINUATION_CONFLICT,
                )
                return None
        return model.Call(tuple(targets), name.text, decl.span, carries, timeout)

    def _same_continuation(
        self, decl: ast.CallDecl, this: _Continuation, first: _Continuation
    ) -> bool:
        name = decl.continuation.text
        at = where(first.span)
        if first.targets != this.targets:
            self.report.error(
                decl.continuation.span,
                f"continuation `{name}` receives the reply of {_targets(first.written)} "
                f"({at}), not of {_targets(this.written)}",
                hint="give this call its own continuation",
                code=rules.CONTINUATION_MISMATCH,
            )
            return False
        if first.carries != this.carries:
            self.report.error(
                decl.continuation.span,
                f"continuation `{name}` carries {first.carries_written} ({at}), "
                f"not {this.carries_written}",
                hint="give this call its own continuation",
                code=rules.CONTINUATION_MISMATCH,
            )
            return False
        if first.timeout != this.timeout:
            self.report.error(
                decl.continuation.span,
                f"continuation `{name}` has a different timeout at {at}",
                hint="declare the same timeout, or give this call its own continuation",
                code=rules.CONTINUATION_MISMATCH,
            )
            return False
        return True

    def _send(self, ref: ast.HandlerRef) -> model.SendRef | None:
        target = self._target(ref)
        if target is None:
            return None
        function, handler = target
        if handler.kind is HandlerKind.RPC:
            self.report.error(
                ref.handler.span,
                f"`{ref.handler.text}` returns a reply: use `calls`",
                hint="`sends` is for one-way (`on`) handlers",
                code=rules.SENDS_RPC,
            )
            return None
        return send_ref(function, handler)

    def _emit(self, name: ast.Name) -> bool:
        egress = self.egresses.get(name.text)
        if egress is None:
            self.report.error(
                name.span,
                f"unknown egress `{name.text}`",
                hint=self.report.did_you_mean(name.text, self.egresses),
                code=rules.UNKNOWN_EGRESS,
            )
            return False
        if egress.message is None:
            self.report.error(
                name.span,
                f"`{name.text}` is the dead-letter egress: only sfidl writes to it",
                code=rules.EMITS_DEAD_LETTERS,
            )
            return False
        return True


def _unique(
    report: Reporter,
    names: tuple[ast.Name, ...],
    effect: str,
    valid: Callable[[ast.Name], bool],
) -> tuple[str, ...]:
    """The valid names of a `sets`/`completes` list, each once (a repeat is reported)."""
    seen: dict[str, ast.Name] = {}
    for name in names:
        if name.text in seen:
            report.error(
                name.span,
                f"`{name.text}` is named twice in `{effect}`",
                code=rules.DUPLICATE_EFFECT_TARGET,
            )
        elif valid(name):
            seen[name.text] = name
    return tuple(seen)


def _targets(written: tuple[str, ...]) -> str:
    return " and ".join(f"`{t}`" for t in written)


def resolve_target(
    resolver: Resolver,
    report: Reporter,
    signatures: Mapping[str, FunctionSignature],
    ref: ast.HandlerRef,
) -> Target | None:
    """The function and handler ``ref`` names, or None after reporting why not."""
    symbol = resolver.function(ref.function)
    if symbol is None:
        return None
    signature = signatures.get(symbol.full_name)
    if signature is None:
        return None  # a duplicate function, reported
    handler = signature.handlers.get(ref.handler.text)
    if handler is not None:
        return signature, handler
    if ref.handler.text in signature.timers:
        report.error(
            ref.handler.span,
            f"`{ref.handler.text}` is a timer of `{symbol.name}`, not a handler",
            hint="only the function itself sets its timers",
            code=rules.TIMER_NOT_HANDLER,
        )
    else:
        report.error(
            ref.handler.span,
            f"`{symbol.name}` has no handler `{ref.handler.text}`",
            hint=report.did_you_mean(ref.handler.text, signature.handlers),
            code=rules.UNKNOWN_HANDLER,
        )
    return None


def _rpc_ref(function: FunctionSignature, handler: HandlerSignature) -> model.RpcRef | None:
    if (
        handler.request is None
        or handler.reply is None
        or handler.call_envelope is None
        or handler.reply_envelope is None
    ):
        return None
    return model.RpcRef(
        function=function.symbol.name,
        function_typename=function.symbol.typename,
        handler=handler.node.name.text,
        request=handler.request,
        reply=handler.reply,
        errors=handler.errors,
        call_envelope=handler.call_envelope,
        reply_envelope=handler.reply_envelope,
    )


def send_ref(function: FunctionSignature, handler: HandlerSignature) -> model.SendRef | None:
    """The one-way handler as its senders (and ingresses) see it."""
    if handler.request is None:
        return None
    return model.SendRef(
        function=function.symbol.name,
        function_typename=function.symbol.typename,
        handler=handler.node.name.text,
        request=handler.request,
    )
