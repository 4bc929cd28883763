"""The typed Python stubs ``<name>_sfidl.py``: declarations over :mod:`sfidl.runtime`.

This module decides every name and annotation (a small view model of frozen
dataclasses); ``templates/stubs.py.j2`` only lays them out, in black's style (:mod:`sfidl.gen.python_format`).
"""

from __future__ import annotations

from collections.abc import Callable

from sfidl.check.python_names import (
    RUNTIME_EXPORTS,
    MemberContext as MemberContextNames,
    all_rpcs,
    app_class_name,
    app_keyword,
    context_class_name,
    declarations,
    egress_constant_name,
    error_class_name,
    error_types,
    function_attribute,
    member_contexts,
    outcome_alias,
    rpc_constant_name,
    rpc_ref_of,
    state_class_name,
)
from sfidl.gen.python_format import format_python
from sfidl.gen.python_names import (
    STATE_SCALAR_PYTHON,
    attribute_docstring,
    docstring,
    string_literal,
    tuple_literal,
    import_line,
    Pb2Aliases,
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
    Program,
    SendRef,
    State,
    TypeKind,
    TypeRef,
)
from sfidl.naming import snake_case


def render_stubs(program: Program) -> str:
    """The text of ``<name>_sfidl.py``, exactly as black formats it; byte-identical for the same program.

    Any checked program renders: the stubs refer to what they import by private names,
    and the checker (sfidl/check/python_names.py) refuses declarations sharing a name.
    """
    view = _Builder(program).build()
    return format_python(render_template("stubs.py.j2", _FILTERS, view=view))


# The template's formatting functions, each writing black's style.
_FILTERS: dict[str, Callable[..., str]] = {
    "docstring": docstring,
    "attribute_docstring": attribute_docstring,
    "tuple": tuple_literal,
    "string_literal": string_literal,
}


class _Builder:
    def __init__(self, program: Program) -> None:
        self.program = program
        self.egress_by_name = {e.name: e for e in program.egresses}
        self.modules = Pb2Aliases(program)
        self.proto_files: set[str] = set()  # the _pb2 modules the stubs refer to
        # Module-level names a member of a generated class would hide from the annotations
        # after it (class scope comes first): those annotations use a private alias instead.
        referenced = {d.name for d in declarations(program) if d.key[0] in _REFERENCED}
        self.hidden = sorted(referenced & _member_names(program))

    def py(self, ref: TypeRef) -> str:
        """The Python spelling of ``ref``, remembering the module it needs imported."""
        if ref.kind is not TypeKind.SCALAR:
            self.proto_files.add(ref.proto_file)
        return python_type(ref, self.modules)

    def ref(self, name: str) -> str:
        """How an annotation inside a generated class names the module-level ``name``."""
        return _alias(name) if name in self.hidden else name

    def build(self) -> StubsView:
        program = self.program
        errors = self._errors()
        rpcs = self._rpcs()
        egresses = tuple(self._egress(e) for e in program.egresses)
        functions = tuple(self._function(f) for f in program.functions)
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
        keywords = tuple((app_keyword(f), f.name) for f in program.functions)
        return StubsView(
            source=program.root.file_name,
            namespace=program.namespace,
            doc=program.root.doc,
            exports=RUNTIME_EXPORTS,
            errors=errors,
            rpcs=rpcs,
            egresses=egresses,
            functions=functions,
            ingresses=ingresses,
            imports=tuple(import_line(p, self.modules(p)) for p in sorted(self.proto_files)),
            aliases=tuple((_alias(name), name) for name in self.hidden),
            app_class=app_class_name(program),
            app_self="_self" if any(k == "self" for k, _ in keywords) else "self",
            app_params=keywords,
            endpoint=literal(program.endpoint) if program.endpoint else "None",
        )

    # -- module-level declarations -----------------------------------------------------

    def _errors(self) -> tuple[ErrorClass, ...]:
        return tuple(
            ErrorClass(name=error_class_name(ref), message=self.py(ref), doc=message.doc)
            for ref, message in error_types(self.program)
        )

    def _rpcs(self) -> tuple[RpcConstant, ...]:
        constants = []
        for rpc, _ in all_rpcs(self.program):
            errors = tuple(error_class_name(e) for e in rpc.errors)
            constants.append(
                RpcConstant(
                    name=rpc_constant_name(rpc),
                    function=rpc.function_typename,
                    handler=rpc.handler,
                    request=self.py(rpc.request),
                    reply=self.py(rpc.reply),
                    call_envelope=self.py(rpc.call_envelope),
                    reply_envelope=self.py(rpc.reply_envelope),
                    errors=errors,
                    outcome_alias=outcome_alias(rpc),
                    outcome=" | ".join((self.py(rpc.reply), *errors, "_sf.Timeout")),
                )
            )
        return tuple(constants)

    def _egress(self, egress: Egress) -> EgressConstant:
        return EgressConstant(
            name=egress_constant_name(egress),
            typename=egress.typename,
            kind=egress.kind.name,
            sink=literal(egress.sink),
            message="_sf.DeadLetter" if egress.message is None else self.py(egress.message),
            dead_letters=egress.is_dead_letter,
        )

    # -- one function ------------------------------------------------------------------

    def _function(self, function: Function) -> FunctionView:
        name = function.name
        context = context_class_name(function)
        own, context_of = member_contexts(function)
        contexts = tuple(self._member_context(c, context) for c in own)

        def own_context(member: str) -> str | None:
            return None if context_of[member] == context else context_of[member]

        return FunctionView(
            name=name,
            typename=function.typename,
            doc=function.doc,
            state_class=state_class_name(function),
            states=tuple(self._state_attr(s) for s in function.states),
            context_class=context,
            member_contexts=contexts,
            abstract_methods=self._abstract_methods(function, context_of),
            spec_handlers=tuple(
                self._spec_handler(function, h, own_context(h.name)) for h in function.handlers
            ),
            spec_timers=tuple(
                self._spec_call(
                    "_sf.TimerSpec",
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

    def _member_context(self, names: MemberContextNames, base: str) -> MemberContext:
        """The context class of one member that declared something, and its parts' classes."""
        function, effects = names.function, names.effects
        egress = tuple(
            Method(
                name=e,
                params="",
                returns=f"_sf.Egress[{self.py(self._egress_message(e))}]",
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
                returns=f"_sf.Timer[{self.py(timers_by_name[t].message)}]",
                doc=timers_by_name[t].doc,
                body=f'return self._timer("{t}", {self.py(timers_by_name[t].message)})',
            )
            for t in effects.sets
        )
        joins = tuple(self._join_method(c) for c in effects.calls if c.is_join)
        handlers = {h.name: h for h in function.handlers}
        replies = tuple(self._replies_method(function, handlers[r]) for r in effects.completes)
        cls = {part: name for part, name, _ in names.parts()}
        return MemberContext(
            name=names.name,
            member=f"{function.name}.{names.member}",
            base=base,
            parts=tuple(Part(part, name) for part, name in cls.items()),
            clients=self._clients(names),
            functions_class=cls.get("functions", ""),
            egress_class=cls.get("egress", ""),
            egress=egress,
            timers_class=cls.get("timers", ""),
            timers=timers,
            joins_class=cls.get("joins", ""),
            joins=joins,
            replies_class=cls.get("replies", ""),
            replies=replies,
            defers=names.defers,
        )

    def _replies_method(self, function: Function, handler: Handler) -> Method:
        rpc = rpc_ref_of(function, handler)
        errors = " | ".join(self.ref(error_class_name(e)) for e in rpc.errors) or "_sf.Never"
        return Method(
            name=handler.name,
            params="",
            returns=f"_sf.PendingReplies[{self.py(rpc.reply)}, {errors}]",
            doc=f"Complete a deferred reply of `{handler.name}` with its reply or a declared error.",
            body=f"return self._replies({rpc_constant_name(rpc)})",
        )

    def _egress_message(self, name: str) -> TypeRef:
        message = self.egress_by_name[name].message
        if message is None:
            raise AssertionError("the checker keeps dead-letter egresses out of `emits`")
        return message

    def _spec_handler(self, function: Function, handler: Handler, context: str | None) -> str:
        if handler.kind is HandlerKind.RPC:
            rpc = rpc_ref_of(function, handler)
            args = [f'"{handler.name}"', rpc_constant_name(rpc)]
            if function.defers(handler.name):
                args.append("defers=True")
            return self._spec_call("_sf.RequestReply", args, handler.effects, context)
        return self._spec_call(
            "_sf.OneWay", [f'"{handler.name}"', self.py(handler.request)], handler.effects, context
        )

    def _clients(self, names: MemberContextNames) -> tuple[ClientClass, ...]:
        by_target: dict[str, list[Method]] = {}
        for call in names.effects.calls:
            if not call.is_join:
                typename = call.targets[0].function_typename
                by_target.setdefault(typename, []).append(self._call_method(call))
        for send in names.effects.sends:
            by_target.setdefault(send.function_typename, []).append(self._send_method(send))
        targets = names.client_targets()
        return tuple(
            ClientClass(
                name=names.client_class(targets[typename]),
                target=targets[typename],
                accessor=function_attribute(targets[typename]),
                typename=typename,
                methods=tuple(methods),
            )
            for typename, methods in by_target.items()
        )

    def _join_method(self, call: Call) -> Method:
        names = _join_parameter_names(call)
        params = [
            f"{name}: _builtins.tuple[_builtins.str, {self.py(rpc.request)}]"
            for name, rpc in zip(names, call.targets)
        ]
        requests = tuple_literal(
            f"({rpc_constant_name(rpc)}, *{name})" for name, rpc in zip(names, call.targets)
        )
        params.extend(self._call_options(call))
        carried = "carry" if call.carries else "None"
        return Method(
            name=call.continuation,
            params=", ".join(params),
            returns="_sf.CallId",
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
            context = self.ref(context_of[handler.name])
            if handler.kind is HandlerKind.RPC:
                rpc = rpc_ref_of(function, handler)
                errors = [error_class_name(e) for e in handler.errors]
                answers = [self.py(rpc.reply), *map(self.ref, errors)]
                doc = handler.doc
                if errors:
                    doc += "\n\nReturn (or raise) " + " or ".join(f"`{e}`" for e in errors)
                    doc += " to answer with that error."
                if function.defers(handler.name):
                    answers.append("_sf.Deferred")
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
                    params=f"ctx: {self.ref(context_of[timer.name])}, "
                    f"message: {self.py(timer.message)}",
                    returns=_maybe_async("None"),
                    doc=timer.doc or f"The timer `{timer.name}` fired.",
                )
            )
        for call in function.calls:
            methods.append(self._continuation_method(call, self.ref(context_of[call.continuation])))
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
            descriptor = f"_sf.ScalarState({sdk_type}, {literal(default)}{expiry}"
            annotation = f"_sf.ScalarState[_builtins.{python}]"
        else:
            descriptor = f"_sf.MessageState({self.py(state.type)}{expiry}"
            annotation = f"_sf.MessageState[{self.py(state.type)}]"
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
        options.append(f"timeout: _timedelta | None = {default}")
        return options

    def _call_method(self, call: Call) -> Method:
        rpc = call.targets[0]
        params = [f"request: {self.py(rpc.request)}", *self._call_options(call)]
        carried = "carry" if call.carries else "None"
        return Method(
            name=rpc.handler,
            params=", ".join(params),
            returns="_sf.CallId",
            doc=f"Call {rpc.function}.{rpc.handler}; the outcome goes to `{call.continuation}`.",
            body=f'return self._call({rpc_constant_name(rpc)}, "{call.continuation}", request, {carried}, timeout)',
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
            outcomes = ", ".join(self.ref(outcome_alias(r)) for r in call.targets)
            requests = ", ".join(self.py(r.request) for r in call.targets)
            params = f"ctx: {context}, outcomes: _builtins.tuple[{outcomes}], requests: _builtins.tuple[{requests}]"
            what = ", ".join(f"{r.function}.{r.handler}" for r in call.targets)
            doc = f"The outcomes of {what}, in that order, once every one is known."
        else:
            rpc = call.targets[0]
            params = (
                f"ctx: {context}, outcome: {self.ref(outcome_alias(rpc))}, "
                f"request: {self.py(rpc.request)}"
            )
            doc = f"The outcome of a call to {rpc.function}.{rpc.handler}."
        if call.carries is not None:
            params += f", carried: {self.py(call.carries)}"
        return Method(name=call.continuation, params=params, returns=_maybe_async("None"), doc=doc)

    def _spec_continuation(self, call: Call, effects: Effects, context: str | None) -> str:
        targets = tuple_literal(rpc_constant_name(r) for r in call.targets)
        args = [f'"{call.continuation}"', targets]
        if call.carries is not None:
            args.append(f"carries={self.py(call.carries)}")
        if call.timeout_millis is not None:
            args.append(f"timeout={timedelta_expr(call.timeout_millis)}")
        return self._spec_call("_sf.Continuation", args, effects, context)

    def _spec_call(
        self, constructor: str, args: list[str], effects: Effects, context: str | None
    ) -> str:
        """``_sf.OneWay("add", ..., effects=_sf.Effects(...), context=...)``: a member's spec with
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
                f"{kind}=_builtins.frozenset({{{', '.join(sorted(items))}}})"
                for kind, items in declared
            )
            args = [*args, f"effects=_sf.Effects({fields})"]
        if context is not None:
            args = [*args, f"context={context}"]
        return f"{constructor}({', '.join(args)})"


# The kinds of module-level names (sfidl.check.python_names.Declared.key) that annotations
# inside a class with declared members name: contexts, errors and outcomes. (A client class
# is named only inside its `...Functions` class, whose members are the accessors.)
_REFERENCED = frozenset({"context", "error", "outcome"})


def _member_names(program: Program) -> set[str]:
    """Every name a member of a generated class takes: states, handlers, timers and
    continuations, and the egresses, timers, clients and replies of the context parts."""
    names: set[str] = set()
    for function in program.functions:
        names.update(s.name for s in function.states)
        names.update(m.name for m in function.members)
        names.update(upgrade_method(s.name) for s in function.states if s.migrate_from)
        for member in function.members:
            names.update(member.emits)
            for call in member.calls:
                names.add(call.continuation)
                for rpc in call.targets:
                    names.update((rpc.handler, function_attribute(rpc.function)))
            for send in member.sends:
                names.update((send.handler, function_attribute(send.function)))
    return names


def _alias(name: str) -> str:
    """The private alias of a module-level name a class member hides: ``_CartAddContext``."""
    return f"_{name}"


def _maybe_async(returns: str) -> str:
    """The return annotation of a user method: implementations may be ``async``."""
    return f"_sf.MaybeAwaitable[{returns}]"


def _join_parameter_names(call: Call) -> list[str]:
    """``fraud_counter_recent``, ...; when two targets give one name (``A_b.c``, ``A.b_c``),
    every name gets its position appended (``_<i>`` keeps them apart: each ends differently)."""
    names = [f"{snake_case(rpc.function)}_{rpc.handler}" for rpc in call.targets]
    if len(set(names)) < len(names):
        return [f"{n}_{i}" for i, n in enumerate(names)]
    return names


_ZERO: dict[str, int | float | bool | str] = {"int": 0, "float": 0.0, "bool": False, "str": ""}
