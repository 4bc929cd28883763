"""The typed Python stubs ``<name>_sfidl.py``: declarations over :mod:`sfidl.runtime`.

This module decides every name and annotation (a small view model of frozen
dataclasses); ``templates/stubs.py.j2`` only lays them out, in black's style (:mod:`sfidl.gen.python_format`).
"""

from __future__ import annotations

from collections.abc import Callable

from sfidl.diagnostics import Span
from sfidl.gen.python_format import format_python
from sfidl.gen.python_names import (
    STATE_SCALAR_PYTHON,
    attribute_docstring,
    docstring,
    string_literal,
    tuple_literal,
    import_line,
    pb2_alias,
    literal,
    python_type,
    timedelta_expr,
)
from sfidl.gen.stubs_view import (
    ClientClass,
    EgressConstant,
    ErrorClass,
    FunctionView,
    IngressEntry,
    MemberContext,
    Method,
    Part,
    RpcConstant,
    StateAttr,
    StubsView,
)
from sfidl.check.states import upgrade_method
from sfidl.gen.templating import render_template
from sfidl.model import (
    Call,
    Effects,
    Egress,
    ExpireMode,
    Function,
    Handler,
    HandlerKind,
    MessageOrigin,
    Program,
    RpcRef,
    SendRef,
    State,
    TypeKind,
    TypeRef,
)
from sfidl.naming import pascal_case, snake_case


class StubNameClash(Exception):
    """Two generated Python names coincide: a user error, reported at the second declaration."""

    def __init__(self, message: str, span: Span) -> None:
        super().__init__(message)
        self.span = span


def stubs_module(program: Program) -> str:
    """The module name of the stubs: ``shop_sfidl``."""
    return f"{program.root.stem}_sfidl"


def render_stubs(program: Program) -> str:
    """The text of ``<name>_sfidl.py``, exactly as black formats it; byte-identical for the same program."""
    view = _Builder(program).build()
    return format_python(render_template("stubs.py.j2", _FILTERS, view=view))


# The template's formatting functions, each writing black's style.
_FILTERS: dict[str, Callable[..., str]] = {
    "docstring": docstring,
    "attribute_docstring": attribute_docstring,
    "tuple": tuple_literal,
    "string_literal": string_literal,
}


# Top-level names of every stubs module (imports and constants the template writes).
_FIXED_NAMES = (
    "annotations",
    "abc",
    "timedelta",
    "TypeAlias",
    "sf",
    "CallId",
    "Timeout",
    "TimerId",
    "NAMESPACE",
    "MANIFEST",
)


def error_class_name(ref: TypeRef) -> str:
    """``OutOfStock`` -> ``OutOfStockError`` (a name already ending in ``Error`` is kept)."""
    name = ref.local_name.replace(".", "")
    return name if name.endswith("Error") else name + "Error"


def _rpc_constant_name(rpc: RpcRef) -> str:
    return f"RPC_{snake_case(rpc.function).upper()}_{rpc.handler.upper()}"


def _outcome_alias(rpc: RpcRef) -> str:
    return f"{rpc.function}{pascal_case(rpc.handler)}Outcome"


def _egress_constant_name(egress: Egress) -> str:
    return f"EGRESS_{egress.name.upper()}"


class _Builder:
    def __init__(self, program: Program) -> None:
        self.program = program
        self.egress_by_name = {e.name: e for e in program.egresses}
        # generated top-level name -> what it was made for
        self.names: dict[str, str] = {name: "sfidl's own use" for name in _FIXED_NAMES}
        self.spans: dict[str, Span] = {}  # where each name the program caused comes from
        self.proto_files: set[str] = set()  # the _pb2 modules the stubs refer to

    def py(self, ref: TypeRef) -> str:
        """The Python spelling of ``ref``, remembering the module it needs imported."""
        if ref.kind is not TypeKind.SCALAR:
            self.proto_files.add(ref.proto_file)
        return python_type(ref)

    def claim(self, name: str, purpose: str, span: Span) -> str:
        """Reserve a top-level name of the stubs for ``purpose`` (declared at ``span``)."""
        if name in self.names and self.names[name] != purpose:
            raise StubNameClash(
                f"the generated Python name `{name}` is needed for both {self.names[name]} "
                f"and {purpose}; rename one of them",
                span,
            )
        self.names[name] = purpose
        self.spans[name] = span
        return name

    def build(self) -> StubsView:
        program = self.program
        errors = self._errors()
        rpcs = self._rpcs()
        egresses = tuple(self._egress(e) for e in program.egresses)
        functions = tuple(self._function(f) for f in program.functions)
        app_class = self.claim(
            pascal_case(program.root.stem) + "App",
            "the application class",
            program.functions[0].span if program.functions else Span.point(program.root.path, 1, 1),
        )
        ingresses = tuple(
            IngressEntry(
                typename=i.typename,
                kind=i.kind.name,
                source=literal(i.source),
                target=i.target.function_typename,
                message=self.py(i.target.request),
            )
            for i in program.ingresses
        )
        self._check_members()
        return StubsView(
            source=program.root.file_name,
            namespace=program.namespace,
            doc=program.root.doc,
            errors=errors,
            rpcs=rpcs,
            egresses=egresses,
            functions=functions,
            ingresses=ingresses,
            imports=tuple(import_line(p) for p in sorted(self.proto_files)),
            app_class=app_class,
            app_params=self._app_params(),
            endpoint=literal(program.endpoint) if program.endpoint else "None",
        )

    def _check_members(self) -> None:
        """No method or attribute of a generated class may hide a name its annotations use.

        Annotations are resolved in class scope: a handler named ``sf`` or ``str``, or
        like a generated class or module, would hide it from every later annotation.
        """
        modules = {pb2_alias(p) for p in self.proto_files}
        for module in sorted(modules & self.spans.keys()):
            raise StubNameClash(
                f"the generated Python name `{module}` is needed for both {self.names[module]} "
                "and the imported protobuf module; rename it",
                self.spans[module],
            )
        taken = {*self.names, *modules}
        for function in self.program.functions:
            for name, span, what, builtins in _members(function):
                if name in taken or name in builtins:
                    raise StubNameClash(
                        f"`{name}`, the Python name of {what}, would hide the name `{name}` "
                        f"that the generated classes of {function.name} use; rename it",
                        span,
                    )

    def _app_params(self) -> tuple[tuple[str, str], ...]:
        """The application's keyword arguments: one per function, then ``playground``."""
        params = []
        for function in self.program.functions:
            keyword = snake_case(function.name)
            if keyword == "playground":
                raise StubNameClash(
                    f"the function {function.name} would be the application's `playground` "
                    "argument, which selects the playground's egress records; rename it",
                    function.span,
                )
            params.append((keyword, function.name))
        return tuple(params)

    # -- module-level declarations -----------------------------------------------------

    def _errors(self) -> tuple[ErrorClass, ...]:
        errors: dict[str, ErrorClass] = {}
        for source in self.program.files:
            for message in source.messages:
                if message.origin is not MessageOrigin.ERROR:
                    continue
                ref = TypeRef(
                    TypeKind.MESSAGE, message.full_name, source.package, source.proto_file
                )
                name = self.claim(
                    error_class_name(ref), f"the error {message.full_name}", message.span
                )
                errors[name] = ErrorClass(name=name, message=self.py(ref), doc=message.doc)
        return tuple(errors.values())

    def _all_rpcs(self) -> list[tuple[RpcRef, Span]]:
        """The request/reply handlers the program implements or calls, each once, with where."""
        found: dict[tuple[str, str], tuple[RpcRef, Span]] = {}
        for function in self.program.functions:
            for handler in function.handlers:
                if handler.kind is HandlerKind.RPC:
                    ref = _rpc_ref_of(function, handler)
                    found.setdefault((ref.function_typename, ref.handler), (ref, handler.span))
            for call in function.calls:
                for rpc in call.targets:
                    found.setdefault((rpc.function_typename, rpc.handler), (rpc, call.span))
        return list(found.values())

    def _rpcs(self) -> tuple[RpcConstant, ...]:
        constants = []
        for rpc, span in self._all_rpcs():
            what = f"{rpc.function}.{rpc.handler}"
            errors = tuple(error_class_name(e) for e in rpc.errors)
            constants.append(
                RpcConstant(
                    name=self.claim(_rpc_constant_name(rpc), what, span),
                    function=rpc.function_typename,
                    handler=rpc.handler,
                    request=self.py(rpc.request),
                    reply=self.py(rpc.reply),
                    call_envelope=self.py(rpc.call_envelope),
                    reply_envelope=self.py(rpc.reply_envelope),
                    errors=errors,
                    outcome_alias=self.claim(_outcome_alias(rpc), f"the outcome of {what}", span),
                    outcome=" | ".join((self.py(rpc.reply), *errors, "sf.Timeout")),
                )
            )
        return tuple(constants)

    def _egress(self, egress: Egress) -> EgressConstant:
        return EgressConstant(
            name=self.claim(
                _egress_constant_name(egress), f"the egress {egress.name}", egress.span
            ),
            typename=egress.typename,
            kind=egress.kind.name,
            sink=literal(egress.sink),
            message="sf.DeadLetter" if egress.message is None else self.py(egress.message),
            dead_letters=egress.is_dead_letter,
        )

    # -- one function ------------------------------------------------------------------

    def _function(self, function: Function) -> FunctionView:
        name = function.name
        self.claim(name, f"the function {name}", function.span)
        context = self.claim(f"{name}Context", f"the context of {name}", function.span)
        state_class = self.claim(f"{name}State", f"the state of {name}", function.span)
        contexts: dict[str, MemberContext] = {}  # member name -> its own context class
        context_of: dict[str, str] = {}  # member name -> the context class its method takes
        for member in function.members:
            defers = isinstance(member, Handler) and function.defers(member.name)
            own = self._member_context(function, member.name, member.effects, defers, context)
            if own is not None:
                contexts[member.name] = own
            context_of[member.name] = own.name if own else context
        for call in function.calls:
            declarers = [
                contexts[m.name]
                for m in function.members
                if any(c.continuation == call.continuation for c in m.calls)
            ]
            if len(declarers) == 1 and not declarers[0].defers:
                # A continuation goes on with what its member started: the same context
                # (but only the rpc itself may defer its answer).
                context_of[call.continuation] = declarers[0].name
                continue
            effects = function.continuation_effects(call.continuation)
            own = self._member_context(function, call.continuation, effects, False, context)
            assert own is not None, "a continuation's effects include the call leading to it"
            contexts[call.continuation] = own
            context_of[call.continuation] = own.name

        def own_context(member: str) -> str | None:
            return None if context_of[member] == context else context_of[member]

        return FunctionView(
            name=name,
            typename=function.typename,
            doc=function.doc,
            state_class=state_class,
            states=tuple(self._state_attr(s) for s in function.states),
            context_class=context,
            member_contexts=tuple(contexts.values()),
            abstract_methods=self._abstract_methods(function, context_of),
            spec_handlers=tuple(
                self._spec_handler(function, h, own_context(h.name)) for h in function.handlers
            ),
            spec_timers=tuple(
                self._spec_call(
                    "sf.TimerSpec",
                    [f'"{t.name}"', self.py(t.message)],
                    t.effects,
                    own_context(t.name),
                )
                for t in function.timers
            ),
            spec_continuations=tuple(
                self._spec_continuation(
                    c,
                    function.continuation_effects(c.continuation),
                    own_context(c.continuation),
                )
                for c in function.calls
            ),
            exclusive=function.exclusive,
        )

    def _member_context(
        self, function: Function, member: str, effects: Effects, defers: bool, base: str
    ) -> MemberContext | None:
        """The context class of one member, or None when it declared nothing (it takes the base)."""
        if effects == Effects() and not defers:
            return None
        stem = f"{function.name}{pascal_case(member)}"
        span = function.span

        def part_class(suffix: str, what: str) -> str:
            return self.claim(f"{stem}{suffix}", f"the {what} of {function.name}.{member}", span)

        clients = self._clients(function, stem, effects)
        egress = tuple(
            Method(
                name=e,
                params="",
                returns=f"sf.Egress[{self.py(self._egress_message(e))}]",
                doc=self.egress_by_name[e].doc,
                body=f'return self._egress("{self.egress_by_name[e].typename}", '
                f"{self.py(self._egress_message(e))})",
            )
            for e in effects.emits
        )
        timers_by_name = {t.name: t for t in function.timers}
        timers = tuple(
            Method(
                name=t,
                params="",
                returns=f"sf.Timer[{self.py(timers_by_name[t].message)}]",
                doc=timers_by_name[t].doc,
                body=f'return self._timer("{t}", {self.py(timers_by_name[t].message)})',
            )
            for t in effects.sets
        )
        joins = tuple(self._join_method(c) for c in effects.calls if c.is_join)
        handlers = {h.name: h for h in function.handlers}
        replies = tuple(self._replies_method(function, handlers[r]) for r in effects.completes)
        kinds = (
            ("functions", "Functions", "clients", bool(clients)),
            ("egress", "Egress", "egresses", bool(egress)),
            ("timers", "Timers", "timers", bool(timers)),
            ("joins", "Joins", "joins", bool(joins)),
            ("replies", "Replies", "deferred replies", bool(replies)),
        )
        cls = {part: part_class(suffix, what) for part, suffix, what, present in kinds if present}
        return MemberContext(
            name=part_class("Context", "context"),
            member=f"{function.name}.{member}",
            base=base,
            parts=tuple(Part(part, cls[part]) for part, *_ in kinds if part in cls),
            clients=clients,
            functions_class=cls.get("functions", ""),
            egress_class=cls.get("egress", ""),
            egress=egress,
            timers_class=cls.get("timers", ""),
            timers=timers,
            joins_class=cls.get("joins", ""),
            joins=joins,
            replies_class=cls.get("replies", ""),
            replies=replies,
            defers=defers,
        )

    def _replies_method(self, function: Function, handler: Handler) -> Method:
        rpc = _rpc_ref_of(function, handler)
        errors = " | ".join(error_class_name(e) for e in rpc.errors) or "sf.Never"
        return Method(
            name=handler.name,
            params="",
            returns=f"sf.PendingReplies[{self.py(rpc.reply)}, {errors}]",
            doc=f"Complete a deferred reply of `{handler.name}` with its reply or a declared error.",
            body=f"return self._replies({_rpc_constant_name(rpc)})",
        )

    def _egress_message(self, name: str) -> TypeRef:
        message = self.egress_by_name[name].message
        if message is None:
            raise AssertionError("the checker keeps dead-letter egresses out of `emits`")
        return message

    def _spec_handler(self, function: Function, handler: Handler, context: str | None) -> str:
        if handler.kind is HandlerKind.RPC:
            rpc = _rpc_ref_of(function, handler)
            args = [f'"{handler.name}"', _rpc_constant_name(rpc)]
            if function.defers(handler.name):
                args.append("defers=True")
            return self._spec_call("sf.RequestReply", args, handler.effects, context)
        return self._spec_call(
            "sf.OneWay", [f'"{handler.name}"', self.py(handler.request)], handler.effects, context
        )

    def _clients(self, function: Function, stem: str, effects: Effects) -> tuple[ClientClass, ...]:
        by_target: dict[str, list[Method]] = {}
        targets: dict[str, str] = {}
        for call in effects.calls:
            if call.is_join:
                continue
            rpc = call.targets[0]
            targets[rpc.function_typename] = rpc.function
            by_target.setdefault(rpc.function_typename, []).append(self._call_method(call))
        for send in effects.sends:
            targets[send.function_typename] = send.function
            by_target.setdefault(send.function_typename, []).append(self._send_method(send))
        return tuple(
            ClientClass(
                name=self.claim(
                    f"{stem}To{targets[typename]}",
                    f"the client of {targets[typename]} in {stem}",
                    function.span,
                ),
                target=targets[typename],
                accessor=snake_case(targets[typename]),
                typename=typename,
                methods=tuple(methods),
            )
            for typename, methods in by_target.items()
        )

    def _join_method(self, call: Call) -> Method:
        names = _join_parameter_names(call)
        params = [
            f"{name}: tuple[str, {self.py(rpc.request)}]" for name, rpc in zip(names, call.targets)
        ]
        requests = tuple_literal(
            f"({_rpc_constant_name(rpc)}, *{name})" for name, rpc in zip(names, call.targets)
        )
        params.extend(self._call_options(call))
        carried = "carry" if call.carries else "None"
        return Method(
            name=call.continuation,
            params=", ".join(params),
            returns="sf.CallId",
            doc=(
                "Call "
                + ", ".join(f"{r.function}.{r.handler}" for r in call.targets)
                + f" (each an `(id, request)` pair) and hand every outcome to `{call.continuation}`."
            ),
            body=f'return self._join("{call.continuation}", {requests}, {carried}, timeout)',
        )

    def _abstract_methods(
        self, function: Function, context_of: dict[str, str]
    ) -> tuple[Method, ...]:
        methods = []
        for handler in function.handlers:
            context = context_of[handler.name]
            if handler.kind is HandlerKind.RPC:
                rpc = _rpc_ref_of(function, handler)
                errors = [error_class_name(e) for e in handler.errors]
                answers = [self.py(rpc.reply), *errors]
                doc = handler.doc
                if errors:
                    doc += "\n\nReturn (or raise) " + " or ".join(f"`{e}`" for e in errors)
                    doc += " to answer with that error."
                if function.defers(handler.name):
                    answers.append("sf.Deferred")
                    doc += (
                        "\n\nReturn `ctx.defer()` to answer later, from a member that completes it."
                    )
                methods.append(
                    Method(
                        name=handler.name,
                        params=f"ctx: {context}, request: {self.py(handler.request)}",
                        returns=_maybe_async(" | ".join(answers)),
                        doc=doc.strip(),
                    )
                )
            else:
                methods.append(
                    Method(
                        name=handler.name,
                        params=f"ctx: {context}, message: {self.py(handler.request)}",
                        returns=_maybe_async("None"),
                        doc=handler.doc,
                    )
                )
        for timer in function.timers:
            methods.append(
                Method(
                    name=timer.name,
                    params=f"ctx: {context_of[timer.name]}, message: {self.py(timer.message)}",
                    returns=_maybe_async("None"),
                    doc=timer.doc or f"The timer `{timer.name}` fired.",
                )
            )
        for call in function.calls:
            methods.append(self._continuation_method(call, context_of[call.continuation]))
        methods += [self._upgrade_method(s) for s in function.states if s.migrate_from]
        return tuple(methods)

    def _upgrade_method(self, state: State) -> Method:
        """``migrate_cart(self, old: Cart) -> CartV2``: a migrated state's old values upgraded."""
        assert state.migrate_from is not None
        old = self.py(state.migrate_from)
        return Method(
            name=upgrade_method(state.name),
            params=f"old: {old}",
            returns=self.py(state.type),
            doc=f"Upgrade a value of state `{state.name}` the previous version stored (first read)."
            f"\n\nThe state migrates from `{state.migrate_from.local_name}`: return the value "
            "to store instead.",
        )

    def _state_attr(self, state: State) -> StateAttr:
        expiry = ""
        if state.expiry is not None:
            keyword = (
                "expire_after_write"
                if state.expiry.mode is ExpireMode.AFTER_WRITE
                else "expire_after_call"
            )
            expiry = f", {keyword}={timedelta_expr(state.expiry.millis)}"
        if state.type.kind is TypeKind.SCALAR:
            python, sdk_type = STATE_SCALAR_PYTHON[state.type.name]
            default = state.default if state.default is not None else _ZERO[python]
            if python == "float":
                default = float(default)
            descriptor = f"sf.ScalarState({sdk_type}, {literal(default)}{expiry}"
            annotation = f"sf.ScalarState[{python}]"
        else:
            descriptor = f"sf.MessageState({self.py(state.type)}{expiry}"
            annotation = f"sf.MessageState[{self.py(state.type)}]"
        if state.migrate_from is not None:
            previous = state.migrate_from
            is_scalar = previous.kind is TypeKind.SCALAR
            descriptor += ", migrate_from=" + (
                STATE_SCALAR_PYTHON[previous.name][1] if is_scalar else self.py(previous)
            )
        descriptor += ")"
        return StateAttr(
            name=state.name, annotation=annotation, descriptor=descriptor, doc=state.doc
        )

    def _call_options(self, call: Call) -> list[str]:
        options = ["*"]
        if call.carries is not None:
            options.append(f"carry: {self.py(call.carries)}")
        default = "None" if call.timeout_millis is None else timedelta_expr(call.timeout_millis)
        options.append(f"timeout: timedelta | None = {default}")
        return options

    def _call_method(self, call: Call) -> Method:
        rpc = call.targets[0]
        params = [f"request: {self.py(rpc.request)}", *self._call_options(call)]
        carried = "carry" if call.carries else "None"
        return Method(
            name=rpc.handler,
            params=", ".join(params),
            returns="sf.CallId",
            doc=f"Call {rpc.function}.{rpc.handler}; the outcome goes to `{call.continuation}`.",
            body=f'return self._call({_rpc_constant_name(rpc)}, "{call.continuation}", request, {carried}, timeout)',
        )

    def _send_method(self, send: SendRef) -> Method:
        return Method(
            name=send.handler,
            params=f"message: {self.py(send.request)}",
            returns="None",
            doc=f"Send to {send.function}.{send.handler}.",
            body=f'self._send("{send.handler}", message)',
        )

    def _continuation_method(self, call: Call, context: str) -> Method:
        if call.is_join:
            outcomes = ", ".join(_outcome_alias(r) for r in call.targets)
            requests = ", ".join(self.py(r.request) for r in call.targets)
            params = f"ctx: {context}, outcomes: tuple[{outcomes}], requests: tuple[{requests}]"
            what = ", ".join(f"{r.function}.{r.handler}" for r in call.targets)
            doc = f"The outcomes of {what}, in that order, once every one is known."
        else:
            rpc = call.targets[0]
            params = (
                f"ctx: {context}, outcome: {_outcome_alias(rpc)}, request: {self.py(rpc.request)}"
            )
            doc = f"The outcome of a call to {rpc.function}.{rpc.handler}."
        if call.carries is not None:
            params += f", carried: {self.py(call.carries)}"
        return Method(name=call.continuation, params=params, returns=_maybe_async("None"), doc=doc)

    def _spec_continuation(self, call: Call, effects: Effects, context: str | None) -> str:
        targets = tuple_literal(_rpc_constant_name(r) for r in call.targets)
        args = [f'"{call.continuation}"', targets]
        if call.carries is not None:
            args.append(f"carries={self.py(call.carries)}")
        if call.timeout_millis is not None:
            args.append(f"timeout={timedelta_expr(call.timeout_millis)}")
        return self._spec_call("sf.Continuation", args, effects, context)

    def _spec_call(
        self, constructor: str, args: list[str], effects: Effects, context: str | None
    ) -> str:
        """``sf.OneWay("add", ..., effects=sf.Effects(...), context=...)``: a member's spec with
        what it may do and the context class it gets (the function's when None)."""
        declared = [
            (kind, items)
            for kind, items in (
                ("calls", [f'"{c.continuation}"' for c in effects.calls]),
                ("sends", [f'("{s.function_typename}", "{s.handler}")' for s in effects.sends]),
                ("emits", [f'"{self.egress_by_name[e].typename}"' for e in effects.emits]),
                ("timers", [f'"{t}"' for t in effects.sets]),
                ("completes", [f'"{r}"' for r in effects.completes]),
            )
            if items
        ]
        if declared:
            fields = ", ".join(
                f"{kind}=frozenset({{{', '.join(sorted(items))}}})" for kind, items in declared
            )
            args = [*args, f"effects=sf.Effects({fields})"]
        if context is not None:
            args = [*args, f"context={context}"]
        return f"{constructor}({', '.join(args)})"


# The builtins each kind of generated class names in its annotations.
_STATE_BUILTINS = frozenset({"int", "float", "bool", "str"})  # ScalarState[...]
_BASE_BUILTINS = frozenset({"tuple"})  # a join's continuation: outcomes: tuple[...]
_CLIENT_BUILTINS = frozenset({"timedelta"})  # timeout: timedelta | None
_JOIN_BUILTINS = frozenset({"tuple", "str", "timedelta"})  # (id, request): tuple[str, ...]
_ACCESSOR_BUILTINS = frozenset({"str"})  # def inventory(self, id: str)


def _members(function: Function) -> list[tuple[str, Span, str, frozenset[str]]]:
    """The names a function's generated classes define: where, what, and the builtins beside them."""
    members = [(s.name, s.span, f"the state {s.name}", _STATE_BUILTINS) for s in function.states]
    for name, span, what in (
        *((h.name, h.span, f"the handler {h.name}") for h in function.handlers),
        *((t.name, t.span, f"the timer {t.name}") for t in function.timers),
    ):
        members.append((name, span, what, _BASE_BUILTINS))
    for member in function.members:
        targets: list[tuple[str, str]] = []
        for call in member.calls:
            what = f"the continuation {call.continuation}"
            uses = _JOIN_BUILTINS if call.is_join else _BASE_BUILTINS
            members.append((call.continuation, call.span, what, uses))
            if not call.is_join:
                targets += [(r.function, r.handler) for r in call.targets]
        targets += [(s.function, s.handler) for s in member.sends]
        for target, handler in targets:
            what = f"the handler {target}.{handler}"
            members.append((handler, member.span, what, _CLIENT_BUILTINS))
            what = f"the function {target}"
            members.append((snake_case(target), member.span, what, _ACCESSOR_BUILTINS))
        members += [(e, member.span, f"the egress {e}", frozenset()) for e in member.emits]
    return members


def _maybe_async(returns: str) -> str:
    """The return annotation of a user method: implementations may be ``async``."""
    return f"sf.MaybeAwaitable[{returns}]"


def _join_parameter_names(call: Call) -> list[str]:
    """``fraud_counter_recent``, ...; a target joined twice gets its position appended."""
    names = [f"{snake_case(rpc.function)}_{rpc.handler}" for rpc in call.targets]
    return [f"{n}_{i}" if names.count(n) > 1 else n for i, n in enumerate(names)]


def _rpc_ref_of(function: Function, handler: Handler) -> RpcRef:
    assert handler.reply is not None
    assert handler.call_envelope is not None and handler.reply_envelope is not None
    return RpcRef(
        function=function.name,
        function_typename=function.typename,
        handler=handler.name,
        request=handler.request,
        reply=handler.reply,
        errors=handler.errors,
        call_envelope=handler.call_envelope,
        reply_envelope=handler.reply_envelope,
    )


_ZERO: dict[str, int | float | bool | str] = {"int": 0, "float": 0.0, "bool": False, "str": ""}
