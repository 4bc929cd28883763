"""Lint: warnings with ids about a program that compiles but is likely wrong or unidiomatic.

Each :class:`Rule` is data: an id (``unused-message``), the one-line reason shown as the
warning's hint, and a check over the checked :class:`~sfidl.model.Program` that yields
:class:`Finding` values. Lint reads the root file's declarations only: imported files are
linted when they are checked as programs of their own.

A finding is suppressed by a comment naming its id and why, on the declaration's line or
on its own line directly above the declaration (other comment lines may sit between)::

    // sfidl:allow-lint unbounded-state item ids are a bounded catalogue
    state stock: int32 = 0;

A suppression with no reason, an unknown id, or that suppresses nothing is itself a
warning (``bad-suppression``), so a stale or mistyped one does not hide silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass

from sfidl import model
from sfidl.check import rules
from sfidl.diagnostics import Diagnostic, Severity, Span


@dataclass(frozen=True)
class Finding:
    span: Span
    message: str
    # Further lines a suppression may sit on or above: the enclosing declaration's.
    declaration: Span | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    reason: str  # one line: why it matters; shown as the hint
    check: Callable[[model.Program], Iterator[Finding]]


SUPPRESSION_ID = rules.BAD_SUPPRESSION


def _root_messages(program: model.Program) -> Iterator[model.MessageType]:
    def visit(message: model.MessageType) -> Iterator[model.MessageType]:
        yield message
        for nested in message.messages:
            yield from visit(nested)

    for message in program.root.messages:
        if message.origin is not model.MessageOrigin.ENVELOPE:
            yield from visit(message)


def _root_enums(program: model.Program) -> Iterator[model.EnumType]:
    def visit(message: model.MessageType) -> Iterator[model.EnumType]:
        yield from message.enums
        for nested in message.messages:
            yield from visit(nested)

    yield from program.root.enums
    for message in program.root.messages:
        yield from visit(message)


def _members(
    program: model.Program,
) -> Iterator[tuple[model.Function, model.Handler | model.Timer]]:
    for function in program.functions:
        for member in function.members:
            yield function, member


def _unused_messages(program: model.Program) -> Iterator[Finding]:
    # A file without functions is a library of types: its messages are for its importers.
    if not program.functions:
        return
    used: set[str] = set()
    for source in program.files:
        for message in source.messages:
            for nested in _all(message):
                for field in nested.fields:
                    used.add(field.type.name)
                    if field.map_key is not None:
                        used.add(field.map_key.name)
    for function in program.functions:
        used.update(s.type.name for s in function.states)
        # A `migrate from` type decodes what the previous version stored.
        used.update(s.migrate_from.name for s in function.states if s.migrate_from)
        for handler in function.handlers:
            used.add(handler.request.name)
            used.update(e.name for e in handler.errors)
            if handler.reply is not None:
                used.add(handler.reply.name)
        used.update(t.message.name for t in function.timers)
        for member in function.members:
            for call in member.calls:
                if call.carries is not None:
                    used.add(call.carries.name)
                for target in call.targets:
                    used.update((target.request.name, target.reply.name))
                    used.update(e.name for e in target.errors)
            used.update(s.request.name for s in member.sends)
    used.update(i.target.request.name for i in program.ingresses)
    used.update(e.message.name for e in program.egresses if e.message is not None)
    for message in _root_messages(program):
        if message.full_name not in used:
            kind = "error" if message.origin is model.MessageOrigin.ERROR else "message"
            yield Finding(message.span, f"{kind} `{message.name}` is never used")


def _all(message: model.MessageType) -> Iterator[model.MessageType]:
    yield message
    for nested in message.messages:
        yield from _all(nested)


def _unreachable_handlers(program: model.Program) -> Iterator[Finding]:
    reached: set[tuple[str, str]] = {
        (i.target.function_typename, i.target.handler) for i in program.ingresses
    }
    for _, member in _members(program):
        reached.update((s.function_typename, s.handler) for s in member.sends)
        for call in member.calls:
            reached.update((t.function_typename, t.handler) for t in call.targets)
    for function in program.functions:
        for handler in function.handlers:
            if (function.typename, handler.name) not in reached:
                yield Finding(
                    handler.span,
                    f"nothing reaches `{function.name}.{handler.name}`: "
                    "no ingress, sender or caller in the program",
                )
        set_timers = {name for member in function.members for name in member.sets}
        for timer in function.timers:
            if timer.name not in set_timers:
                yield Finding(
                    timer.span,
                    f"nothing sets the timer `{function.name}.{timer.name}`",
                )


def _unused_egresses(program: model.Program) -> Iterator[Finding]:
    emitted = {name for _, member in _members(program) for name in member.emits}
    for egress in program.egresses:
        if not egress.is_dead_letter and egress.name not in emitted:
            yield Finding(egress.span, f"nothing emits to the egress `{egress.name}`")


def _calls_without_timeout(program: model.Program) -> Iterator[Finding]:
    for function, member in _members(program):
        for call in member.calls:
            if call.timeout_millis is None:
                targets = ", ".join(f"`{t.function}.{t.handler}`" for t in call.targets)
                yield Finding(
                    call.span,
                    f"the call to {targets} from `{function.name}.{member.name}` has no timeout",
                    declaration=member.span,
                )


def _unbounded_states(program: model.Program) -> Iterator[Finding]:
    fed = {i.target.function_typename: i for i in program.ingresses}
    for function in program.functions:
        ingress = fed.get(function.typename)
        if ingress is None:
            continue
        for state in function.states:
            if state.expiry is None:
                yield Finding(
                    state.span,
                    f"state `{function.name}.{state.name}` never expires, and the ingress "
                    f"`{ingress.name}` creates an instance per record key",
                )


_PASCAL = re.compile(r"[A-Z][A-Za-z0-9]*\Z")
_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*\Z")
_UPPER_SNAKE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*\Z")


def _upper_snake(name: str) -> str:
    """``UserCart`` -> ``USER_CART``: protobuf's prefix for the values of an enum."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def _pascal_case(program: model.Program) -> Iterator[Finding]:
    for message in _root_messages(program):
        if not _PASCAL.match(message.name):
            yield Finding(message.span, f"`{message.name}` is not PascalCase")
    for enum in _root_enums(program):
        if not _PASCAL.match(enum.name):
            yield Finding(enum.span, f"`{enum.name}` is not PascalCase")
    for function in program.functions:
        if not _PASCAL.match(function.name):
            yield Finding(function.span, f"`{function.name}` is not PascalCase")


def _snake_case(program: model.Program) -> Iterator[Finding]:
    for message in _root_messages(program):
        for field in message.fields:
            if not _SNAKE.match(field.name):
                yield Finding(field.span, f"field `{field.name}` is not snake_case")
    for function in program.functions:
        for state in function.states:
            if not _SNAKE.match(state.name):
                yield Finding(state.span, f"state `{state.name}` is not snake_case")
        for member in function.members:
            what = "timer" if isinstance(member, model.Timer) else "handler"
            if not _SNAKE.match(member.name):
                yield Finding(member.span, f"{what} `{member.name}` is not snake_case")


def _enum_values(program: model.Program) -> Iterator[Finding]:
    for enum in _root_enums(program):
        prefix = _upper_snake(enum.name) + "_"
        for value in enum.values:
            if not _UPPER_SNAKE.match(value.name):
                yield Finding(value.span, f"enum value `{value.name}` is not UPPER_SNAKE_CASE")
            elif not value.name.startswith(prefix):
                yield Finding(
                    value.span, f"enum value `{value.name}` does not start with `{prefix}`"
                )


RULES: tuple[Rule, ...] = (
    Rule(
        rules.UNUSED_MESSAGE,
        "a message nothing uses is dead weight in every generated file; delete it",
        _unused_messages,
    ),
    Rule(
        rules.UNREACHABLE_HANDLER,
        "a handler or timer no message can reach is dead code; route an ingress, send, "
        "call or `sets` to it, or delete it",
        _unreachable_handlers,
    ),
    Rule(
        rules.UNUSED_EGRESS,
        "an egress no member `emits` to never receives a record; emit to it or delete it",
        _unused_egresses,
    ),
    Rule(
        rules.CALL_TIMEOUT,
        "without a timeout the continuation waits for ever if the reply is lost; "
        "add `timeout 5s` (the call site may still override it)",
        _calls_without_timeout,
    ),
    Rule(
        rules.UNBOUNDED_STATE,
        "record keys are unbounded, so state kept for every key grows without end; "
        "add `expire after write|call DURATION`",
        _unbounded_states,
    ),
    Rule(
        rules.PASCAL_CASE,
        "messages, errors, enums and functions are PascalCase (protobuf's style guide)",
        _pascal_case,
    ),
    Rule(
        rules.SNAKE_CASE,
        "fields, states, handlers and timers are snake_case (protobuf's style guide, PEP 8)",
        _snake_case,
    ),
    Rule(
        rules.ENUM_VALUE_NAME,
        "enum values are UPPER_SNAKE_CASE and start with the enum's name in that case "
        "(protobuf's style guide): values of sibling enums share one scope",
        _enum_values,
    ),
)

RULE_IDS: tuple[str, ...] = tuple(r.id for r in RULES)

_SUPPRESSION = re.compile(r"(?<!/)//\s*sfidl:allow-lint\b[ \t]*(\S*)[ \t]*(.*)")


@dataclass
class _Suppression:
    span: Span
    rule: str
    reason: str
    target: int  # the line it applies to
    used: bool = False


def lint(
    program: model.Program, sources: Mapping[str, str], enabled: Collection[str] = RULE_IDS
) -> list[Diagnostic]:
    """The warnings of the ``enabled`` rules over the root file, minus suppressed ones.

    ``sources`` maps display paths to text (to find suppression comments).
    """
    if not enabled:
        return []
    root = program.root.path
    suppressions = _suppressions(root, sources.get(root, ""))
    by_line: dict[tuple[int, str], _Suppression] = {(s.target, s.rule): s for s in suppressions}
    found: list[Diagnostic] = []
    for rule in RULES:
        if rule.id not in enabled:
            continue
        for finding in rule.check(program):
            lines = {finding.span.line}
            if finding.declaration is not None:
                lines.add(finding.declaration.line)
            matched = [by_line[(line, rule.id)] for line in lines if (line, rule.id) in by_line]
            for suppression in matched:
                suppression.used = True
            if not matched:
                found.append(
                    Diagnostic(
                        finding.span, finding.message, rule.reason, Severity.WARNING, code=rule.id
                    )
                )
    for s in suppressions:
        problem = None
        if s.rule not in RULE_IDS:
            problem = f"`{s.rule}` is not a lint rule" if s.rule else "no lint rule named"
            hint = "the rules are " + ", ".join(RULE_IDS)
        elif not s.reason:
            problem = f"the suppression of `{s.rule}` gives no reason"
            hint = "write why after the id: `// sfidl:allow-lint ID REASON`"
        elif not s.used and s.rule in enabled:
            problem = f"the suppression of `{s.rule}` suppresses nothing"
            hint = "it applies to a finding on its line or on the declaration just below it"
        if problem is not None:
            found.append(Diagnostic(s.span, problem, hint, Severity.WARNING, code=SUPPRESSION_ID))
    return found


def _suppressions(file: str, text: str) -> list[_Suppression]:
    """Every ``// sfidl:allow-lint`` comment of a file, with the line it applies to."""
    lines = text.splitlines()
    found: list[_Suppression] = []
    for index, line in enumerate(lines):
        match = _SUPPRESSION.search(line)
        if match is None:
            continue
        column = match.start() + 1
        span = Span(file, index + 1, column, index + 1, len(line.rstrip()) + 1)
        target = index
        if line[: match.start()].strip() == "":
            # On a line of its own: the next line that is not a comment.
            target = index + 1
            while target < len(lines) and lines[target].lstrip().startswith("//"):
                target += 1
        found.append(_Suppression(span, match.group(1), match.group(2).strip(), target + 1))
    return found
