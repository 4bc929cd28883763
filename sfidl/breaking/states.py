"""STATE rules: a function's persisted state across a deploy.

StateFun keeps each state under ``<function typename>/<state name>`` with the typename it
was first registered with; sfidl's runtime reads it with the type the new code declares.
A state declared ``migrate from Old`` keeps its name declared as ``Old`` and stores its new
values under a name derived from the new type (sfidl/runtime/state.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from sfidl.breaking.pair import Pair
from sfidl.breaking.rule import Category, Change, Rule
from sfidl.diagnostics import Severity
from sfidl.model import ExpireMode, Expiry, Function, State
from sfidl.wire import PROTOBUF_TYPENAME_PREFIX


def _kept_states(pair: Pair) -> Iterator[tuple[Function, State, State]]:
    for old_function, new_function in pair.kept_functions():
        states = {s.name: s for s in new_function.states}
        for old in old_function.states:
            new = states.get(old.name)
            if new is not None:
                yield new_function, old, new


def _typename(state: State) -> str:
    return state.typename.removeprefix(PROTOBUF_TYPENAME_PREFIX)


def _state_type(pair: Pair) -> Iterator[Change]:
    for function, old, new in _kept_states(pair):
        if old.typename == new.typename:
            continue
        if old.migrate_from is not None:
            # Its values are under the name derived from the old type, which no
            # `migrate from` reads: a migrated state migrates once.
            yield Change(
                new.span,
                f"the state `{function.name}.{new.name}` changed type from "
                f"`{_typename(old)}` to `{_typename(new)}`, and it already migrated from "
                f"`{_previous(old)}`",
                old.span,
                fix="a state migrates once: keep the old declaration (with its `migrate from`) "
                "and declare a new state under a new name, copying the value over in the "
                "handlers when they first see it",
            )
        elif new.migrate_from is None:
            yield Change(
                new.span,
                f"the state `{function.name}.{new.name}` changed type from "
                f"`{_typename(old)}` to `{_typename(new)}`",
                old.span,
            )


def _state_migration_source(pair: Pair) -> Iterator[Change]:
    for function, old, new in _kept_states(pair):
        if new.migrate_from is None:
            continue
        if old.migrate_from is None:
            # Its values are under its name, as the old type.
            if new.previous_typename == old.typename:
                continue
            stored = f"stores it as `{_typename(old)}`"
        elif old.typename != new.typename:
            continue  # a second migration: STATE_TYPE says so
        elif new.previous_typename == old.previous_typename:
            continue
        else:
            stored = f"migrates it from `{_previous(old)}`"
        yield Change(
            new.span,
            f"the state `{function.name}.{new.name}` migrates from `{_previous(new)}`, but the "
            f"previous version {stored}",
            old.span,
        )


def _state_migration_removed(pair: Pair) -> Iterator[Change]:
    for function, old, new in _kept_states(pair):
        if old.migrate_from is not None and new.migrate_from is None:
            if old.typename == new.typename:
                yield Change(
                    new.span,
                    f"the state `{function.name}.{new.name}` no longer declares "
                    f"`migrate from {old.migrate_from.local_name}`",
                    old.span,
                )


def _previous(state: State) -> str:
    assert state.previous_typename is not None
    return state.previous_typename.removeprefix(PROTOBUF_TYPENAME_PREFIX)


def _removed(pair: Pair) -> Iterator[tuple[Function, State, State | None]]:
    """States gone from a kept function, with the new state that looks like their rename."""
    for old_function, new_function in pair.kept_functions():
        old_names = {s.name for s in old_function.states}
        new_names = {s.name for s in new_function.states}
        for old in old_function.states:
            if old.name in new_names:
                continue
            alike = [
                s
                for s in new_function.states
                if s.name not in old_names and s.typename == old.typename
            ]
            yield new_function, old, alike[0] if len(alike) == 1 else None


def _state_rename(pair: Pair) -> Iterator[Change]:
    for function, old, new in _removed(pair):
        if new is not None:
            yield Change(
                new.span,
                f"the state `{function.name}.{old.name}` seems renamed to `{new.name}`",
                old.span,
            )


def _state_no_delete(pair: Pair) -> Iterator[Change]:
    for function, old, new in _removed(pair):
        if new is None:
            yield Change(
                function.span,
                f"the state `{function.name}.{old.name}` was removed",
                old.span,
            )


def _literal(state: State) -> str:
    if state.default is None:
        return "none"
    if isinstance(state.default, bool):
        return "true" if state.default else "false"
    if isinstance(state.default, str):
        return '"' + state.default.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(state.default)


def _state_default(pair: Pair) -> Iterator[Change]:
    for function, old, new in _kept_states(pair):
        if old.typename == new.typename and old.default != new.default:
            yield Change(
                new.span,
                f"the default of `{function.name}.{new.name}` changed from {_literal(old)} "
                f"to {_literal(new)}",
                old.span,
            )


def _expiry(expiry: Expiry | None) -> str:
    if expiry is None:
        return "no expiry"
    mode = "write" if expiry.mode is ExpireMode.AFTER_WRITE else "call"
    return f"`expire after {mode} {_duration(expiry.millis)}`"


def _duration(millis: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if millis % size == 0:
            return f"{millis // size}{unit}"
    return f"{millis}ms"


def _state_expiry(pair: Pair) -> Iterator[Change]:
    for function, old, new in _kept_states(pair):
        if old.expiry != new.expiry:
            yield Change(
                new.span,
                f"the expiry of `{function.name}.{new.name}` changed from {_expiry(old.expiry)} "
                f"to {_expiry(new.expiry)}",
                old.span,
            )


RULES = (
    Rule(
        "STATE_TYPE",
        Category.STATE,
        Severity.ERROR,
        "StateFun keeps the typename a state was registered with and fails the job at the "
        "next invocation that declares it with another one (and on restore from a "
        "checkpoint or savepoint)",
        "declare the migration, `state cart: CartV2 migrate from Cart;` with the old type, and "
        "implement `migrate_cart(old)` in the function's class: the runtime library upgrades "
        "each old value on its first read (docs/breaking.md, Declared state migrations)",
        _state_type,
    ),
    Rule(
        "STATE_MIGRATION_SOURCE",
        Category.STATE,
        Severity.ERROR,
        "`migrate from` reads the values of the previous version under the state's name, "
        "declared with the type it names: StateFun keeps the type that name was registered "
        "with and fails the job at the next invocation",
        "name the type the previous version declares the state with: `migrate from` it, "
        "or, for a state that already migrated, keep its `migrate from` as it is",
        _state_migration_source,
    ),
    Rule(
        "STATE_MIGRATION_REMOVED",
        Category.STATE,
        Severity.ERROR,
        "a migrated state's values are stored under a name of their own; without `migrate "
        "from` the state is declared under its name with the new type, which StateFun has "
        "registered with the old one: the job fails, and the migrated values are out of reach",
        "keep `migrate from` as long as the state has this type (and the old type with it)",
        _state_migration_removed,
    ),
    Rule(
        "STATE_RENAME",
        Category.STATE,
        Severity.ERROR,
        "state is stored under its name: the renamed state starts empty in every instance "
        "and the old value is silently out of reach",
        "keep the old name; or declare both, copy the old value over when a handler first "
        "sees it, then remove the old one",
        _state_rename,
    ),
    Rule(
        "STATE_NO_DELETE",
        Category.STATE,
        Severity.ERROR,
        "the value stays in StateFun but nothing reads it any more: its data is lost to "
        "the application (and a state declared later under that name finds it)",
        "make sure the data is no longer needed (or copied elsewhere), then accept the "
        "removal with `// sfidl:allow STATE_NO_DELETE why` above the function",
        _state_no_delete,
    ),
    Rule(
        "STATE_DEFAULT",
        Category.STATE,
        Severity.WARNING,
        "the default is not stored: instances that wrote the state keep their value, "
        "instances that never did (or whose value expired or was deleted) now read the new default",
        "make sure both defaults mean the same to the handlers",
        _state_default,
    ),
    Rule(
        "STATE_EXPIRY",
        Category.STATE,
        Severity.ERROR,
        "a running StateFun job keeps the expiry each state was first registered with "
        "(it compares only the typename), so the change is ignored until the job restarts; "
        "Flink rejects a restored state whose expiry was added or removed as incompatible "
        "(the job fails); the local runtime applies it to each value from its next write "
        "(or invocation, after call)",
        "restart the StateFun job for a changed duration; to add or remove an expiry, "
        "declare a new state under a new name and move the data over",
        _state_expiry,
    ),
)
