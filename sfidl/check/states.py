"""Function state: names the SDK accepts, types with a StateFun type, defaults, expiry."""

from __future__ import annotations

import math

from sfidl import ast, model
from sfidl.check import rules
from sfidl.check.names import with_article, check_member_name
from sfidl.check.report import Reporter, where
from sfidl.check.scope import Resolver
from sfidl.model import TypeKind
from sfidl.wire import STATE_SCALARS

_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_STATE_TYPES = ", ".join(f"`{s}`" for s in STATE_SCALARS)


def build_states(
    resolver: Resolver, report: Reporter, function: ast.Function
) -> tuple[model.State, ...]:
    seen: dict[str, ast.State] = {}
    states: list[model.State] = []
    for state in function.states:
        name = state.name
        if check_member_name(report, name, "state") and not name.text.islower():
            report.error(
                name.span,
                f"state name `{name.text}` is not lower case",
                hint=f"the StateFun SDK requires lower-case state names: `{name.text.lower()}`",
                code=rules.STATE_NAME_CASE,
            )
        previous = seen.setdefault(name.text, state)
        if previous is not state:
            report.error(
                name.span,
                f"duplicate state `{name.text}` in `{function.name.text}`: already declared at "
                f"{where(previous.name.span)}",
                code=rules.DUPLICATE_STATE,
            )
        built = _state(resolver, report, state)
        if built is not None:
            states.append(built)
    _check_upgrade_names(report, function)
    return tuple(states)


def _state(resolver: Resolver, report: Reporter, state: ast.State) -> model.State | None:
    expiry = _expiry(report, state.expiry)
    ref = _state_type(resolver, report, state.type, "hold")
    if ref is None:
        return None
    default = None
    if state.default is not None:
        default = _default(report, state, ref)
    migrate_from = _migration(resolver, report, state, ref)
    return model.State(
        state.name.text, ref, state.name.span, default, expiry, state.doc, migrate_from
    )


def _state_type(
    resolver: Resolver, report: Reporter, type_name: ast.TypeName, verb: str
) -> model.TypeRef | None:
    """The type ``type_name`` names if a state can hold it (a message or a state scalar);
    ``verb`` says what the state would do with it (``hold``, ``migrate from``)."""
    symbol = resolver.type(type_name)
    if symbol is None:
        return None
    ref = symbol.ref
    # A type no state can hold is no type a previous version can have stored either.
    never_stored = "no version can have stored it: name the type the state held before"
    if ref.kind is TypeKind.ENUM:
        report.error(
            type_name.span,
            f"a state cannot {verb} {symbol.describe()}",
            hint="store it as an `int32`, or in a message" if verb == "hold" else never_stored,
            code=rules.BAD_STATE_TYPE,
        )
        return None
    if ref.kind is TypeKind.SCALAR and ref.name not in STATE_SCALARS:
        report.error(
            type_name.span,
            f"a state cannot {verb} {symbol.describe()}: StateFun has no built-in type for it",
            hint=f"use one of {_STATE_TYPES}, or a message" if verb == "hold" else never_stored,
            code=rules.BAD_STATE_TYPE,
        )
        return None
    return ref


def _migration(
    resolver: Resolver, report: Reporter, state: ast.State, ref: model.TypeRef
) -> model.TypeRef | None:
    """The checked ``migrate from`` type: another type a state can hold."""
    migration = state.migration
    if migration is None:
        return None
    previous = _state_type(resolver, report, migration.type, "migrate from")
    if previous is None:
        return None
    if model.state_typename(previous) == model.state_typename(ref):
        report.error(
            migration.type.span,
            f"state `{state.name.text}` migrates from its own type `{migration.type.text}`",
            hint="`migrate from` names the type the state had in the previous version; "
            "without a type change, remove it",
            code=rules.MIGRATE_FROM_SAME_TYPE,
        )
        return None
    return previous


def upgrade_method(state: str) -> str:
    """The method of the generated function class that upgrades a migrated state's old value."""
    return f"migrate_{state}"


def _check_upgrade_names(report: Reporter, function: ast.Function) -> None:
    """A migrated state's upgrade method must not share a name with a member's method."""
    members = {h.name.text: h.name.span for h in function.handlers}
    members.update((t.name.text, t.name.span) for t in function.timers)
    calls = [c for h in function.handlers for c in h.calls]
    calls += [c for t in function.timers for c in t.calls]
    members.update((c.continuation.text, c.continuation.span) for c in calls)
    for state in function.states:
        method = upgrade_method(state.name.text)
        if state.migration is not None and method in members:
            report.error(
                state.migration.span,
                f"the upgrade method `{method}` of state `{state.name.text}` has the name of "
                f"a member of `{function.name.text}` (at {where(members[method])})",
                hint="rename the member: the generated class needs both names",
                code=rules.UPGRADE_METHOD_CLASH,
            )


# The longest duration Python's timedelta holds (999999999 days), in milliseconds.
MAX_DURATION_MILLIS = 999_999_999 * 86_400_000


def check_duration(report: Reporter, duration: ast.Duration, what: str) -> bool:
    """Report a duration the generated code cannot hold: zero, or longer than a timedelta."""
    if duration.millis <= 0:
        report.error(duration.span, f"the {what} must be longer than 0", code=rules.BAD_DURATION)
        return False
    if duration.millis > MAX_DURATION_MILLIS:
        report.error(
            duration.span,
            f"the {what} is too long",
            hint="durations go up to 999999999d (Python's largest timedelta)",
            code=rules.BAD_DURATION,
        )
        return False
    return True


def _expiry(report: Reporter, expiry: ast.Expiry | None) -> model.Expiry | None:
    if expiry is None or not check_duration(report, expiry.duration, "expiry"):
        return None
    mode = model.ExpireMode.AFTER_WRITE if expiry.mode == "write" else model.ExpireMode.AFTER_CALL
    return model.Expiry(mode, expiry.duration.millis)


def _default(report: Reporter, state: ast.State, ref: model.TypeRef) -> model.Literal | None:
    literal = state.default
    assert literal is not None
    value = literal.value
    if ref.kind is TypeKind.MESSAGE:
        report.error(
            literal.span,
            "a message state cannot have a default",
            hint="its default is the empty message",
            code=rules.MESSAGE_STATE_DEFAULT,
        )
        return None
    expected = {"bool": bool, "string": str, "float": float, "double": float}.get(ref.name, int)
    if expected is float and isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isinf(number):  # a literal beyond a double's range, not written `inf`
            report.error(
                literal.span,
                f"the default is out of the range of {with_article(f'`{ref.name}`')}",
                code=rules.DEFAULT_RANGE,
            )
            return None
        value = number
    # bool is an int to Python, not to sfidl; a number too long to convert is an int subclass.
    if (int if type(value) is not bool and isinstance(value, int) else type(value)) is not expected:
        report.error(
            literal.span,
            f"the default of {with_article(f'`{ref.name}`')} state must be {_describe(ref.name)}",
            code=rules.DEFAULT_TYPE,
        )
        return None
    if ref.name in _RANGES:
        low, high = _RANGES[ref.name]
        assert isinstance(value, int)
        if not low <= value <= high:
            report.error(
                literal.span,
                f"{value} is out of the range of `{ref.name}`",
                hint=f"`{ref.name}` goes from {low} to {high}",
                code=rules.DEFAULT_RANGE,
            )
            return None
    return value


def _describe(scalar: str) -> str:
    return {
        "bool": "`true` or `false`",
        "string": 'a string such as `"x"`',
        "float": "a number",
        "double": "a number",
    }.get(scalar, "an integer")
