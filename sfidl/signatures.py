"""Declarations written back as sfidl text, without their doc comments: what an editor
shows for a name (``rpc quote(QuoteRequest) returns Quote raises Closed``)."""

from __future__ import annotations

from sfidl import ast
from sfidl.diagnostics import Span

# Largest first: a duration is shown in the largest unit that divides it.
_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def duration(value: ast.Duration) -> str:
    """``90000`` ms as ``90s``: the same duration, not necessarily as it was written."""
    return next(
        f"{value.millis // size}{unit}" for unit, size in _UNITS if value.millis % size == 0
    )


def string(value: ast.StringLit) -> str:
    """The string as a quoted sfidl literal."""
    escaped = value.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def field(value: ast.Field) -> str:
    if value.label == "map":
        assert value.map_key is not None
        kind = f"map<{value.map_key.text}, {value.type.text}>"
    else:
        kind = f"{value.label} {value.type.text}" if value.label else value.type.text
    return f"{kind} {value.name.text} = {value.number}"


def message(value: ast.Message) -> str:
    """The header and the fields (oneofs with theirs); nested types are left out."""
    lines = [f"{'error' if value.is_error else 'message'} {value.name.text} {{"]
    members: list[tuple[Span, str]] = [(f.span, f"  {field(f)};") for f in value.fields]
    for oneof in value.oneofs:
        inner = " ".join(f"{field(f)};" for f in oneof.fields)
        members.append((oneof.span, f"  oneof {oneof.name.text} {{ {inner} }}"))
    lines.extend(text for _, text in sorted(members, key=lambda m: m[0]))
    return _block(lines)


def enum(value: ast.Enum) -> str:
    values = [f"  {v.name.text} = {v.number};" for v in value.values]
    return _block([f"enum {value.name.text} {{", *values])


def enum_value(value: ast.EnumValue) -> str:
    return f"{value.name.text} = {value.number}"


def state(value: ast.State) -> str:
    text = f"state {value.name.text}: {value.type.text}"
    if value.default is not None:
        literal = value.default.value
        if isinstance(literal, bool):
            text += f" = {'true' if literal else 'false'}"
        elif isinstance(literal, str):
            text += " = " + string(ast.StringLit(literal, value.default.span))
        else:
            text += f" = {literal}"
    if value.expiry is not None:
        text += f" expire after {value.expiry.mode} {duration(value.expiry.duration)}"
    if value.migration is not None:
        text += f" migrate from {value.migration.type.text}"
    return text


def call(value: ast.CallDecl) -> str:
    """``Inventory.reserve -> reserved carrying AddToCart timeout 5s``."""
    targets = ", ".join(t.text for t in value.targets)
    text = f"({targets})" if value.is_join else targets
    text += f" -> {value.continuation.text}"
    if value.carrying is not None:
        text += f" carrying {value.carrying.text}"
    if value.timeout is not None:
        text += f" timeout {duration(value.timeout)}"
    return text


def member(value: ast.Handler | ast.Timer, effects: bool = True) -> str:
    """A handler or timer; with ``effects``, each effect on a line of its own."""
    if isinstance(value, ast.Timer):
        head = f"timer {value.name.text}({value.message.text})"
    else:
        head = f"{value.kind} {value.name.text}({value.request.text})"
        if value.reply is not None:
            head += f" returns {value.reply.text}"
        if value.raises:
            head += " raises " + ", ".join(r.text for r in value.raises)
    if not effects:
        return head
    lines = [head]
    if value.calls:
        lines.append("    calls " + ", ".join(call(c) for c in value.calls))
    for keyword, names in (
        ("sends", [r.text for r in value.sends]),
        ("emits", [n.text for n in value.emits]),
        ("sets", [n.text for n in value.sets]),
        ("completes", [n.text for n in value.completes]),
    ):
        if names:
            lines.append(f"    {keyword} " + ", ".join(names))
    return "\n".join(lines)


def function(value: ast.Function) -> str:
    """The header and every state, handler and timer on a line (effects left out)."""
    head = f"{'exclusive ' if value.exclusive else ''}function {value.name.text} {{"
    members = [(s.span, f"  {state(s)};") for s in value.states]
    members += [(m.span, f"  {member(m, effects=False)};") for m in value.handlers + value.timers]
    return _block([head, *(text for _, text in sorted(members, key=lambda m: m[0]))])


def continuation(name: str, value: ast.CallDecl) -> str:
    """A continuation, shown by the call that names it first."""
    return f"continuation {name}  // calls {call(value)}"


def ingress(value: ast.Ingress) -> str:
    of = f" of {value.message.text}" if value.message is not None else ""
    return f"ingress {value.name.text}: {channel(value.channel)}{of} -> {value.target.text}"


def egress(value: ast.Egress) -> str:
    of = f"of {value.message.text}" if value.message is not None else "for dead letters"
    return f"egress {value.name.text}: {channel(value.channel)} {of}"


def channel(value: ast.Channel) -> str:
    word = "topic" if value.kind == "kafka" else "stream"
    return f"{value.kind} {word} {string(value.name)}"


def _block(lines: list[str]) -> str:
    """A header ending in `{` and its member lines, closed; ``{}`` when it has none."""
    return lines[0] + "}" if len(lines) == 1 else "\n".join([*lines, "}"])
