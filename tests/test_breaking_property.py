"""Property: a change to an example is either flagged by `sfidl breaking`, or what the old
version encoded decodes the same with the new one.

Both versions are compiled by the real compiler (protoc included); every message of the
old version is filled with values, encoded by the old generated descriptors and decoded
by the new ones; states, handlers, timers, continuations, ingresses and egresses of the
old version must still be reachable under the same typenames and names. The edits (of
the examples and of the rules' fixtures) are token and line edits like
tests/test_compile_fuzz.py's, from a fixed seed, so every run tries the same changes.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from sfidl.breaking import compare
from sfidl.diagnostics import CompileError
from sfidl.frontend import load_program
from sfidl.gen.proto import render_proto
from sfidl.gen.protoc import compile_protos
from sfidl.model import HandlerKind, Program
from tests.test_compile_fuzz import _tokens

ROOT = Path(__file__).parent.parent
# The examples, and the rules' fixtures: small programs with every kind of declaration.
SEEDS = sorted(ROOT.glob("examples/*/*.sfidl")) + sorted(ROOT.glob("tests/breaking/*/new.sfidl"))
FIXTURES = Path(__file__).parent / "breaking"
_SCALARS = (
    "int32 int64 uint32 uint64 sint32 sint64 fixed32 sfixed64 bool string bytes double".split()
)


# ---------------------------------------------------------------- the generated descriptors


def _pool(files: dict[str, bytes]) -> descriptor_pool.DescriptorPool:
    """A fresh pool holding the descriptors the generated ``_pb2.py`` files embed."""
    protos: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    for name, content in files.items():
        if name.endswith("_pb2.py"):
            for node in ast.walk(ast.parse(content)):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "AddSerializedFile"
                ):
                    proto = descriptor_pb2.FileDescriptorProto.FromString(
                        ast.literal_eval(node.args[0])
                    )
                    protos[proto.name] = proto
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(name: str) -> None:
        if name in added:
            return
        added.add(name)
        if name not in protos:  # a well-known type
            module = __import__(
                "google.protobuf." + Path(name).stem + "_pb2", fromlist=["DESCRIPTOR"]
            )
            pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
            return
        for dependency in protos[name].dependency:
            add(dependency)
        pool.Add(protos[name])

    for name in protos:
        add(name)
    return pool


def _message_names(pool: descriptor_pool.DescriptorPool, program: Program) -> Iterator[str]:
    def walk(descriptor: Descriptor) -> Iterator[str]:
        if not descriptor.GetOptions().map_entry:
            yield descriptor.full_name
        for nested in descriptor.nested_types:
            yield from walk(nested)

    for source in program.files:
        for descriptor in pool.FindFileByName(source.proto_file).message_types_by_name.values():
            yield from walk(descriptor)


_VALUES: dict[int, Any] = {
    FieldDescriptor.TYPE_INT32: -7,
    FieldDescriptor.TYPE_INT64: -(2**40),
    FieldDescriptor.TYPE_UINT32: 3_000_000_000,
    FieldDescriptor.TYPE_UINT64: 2**63 + 5,
    FieldDescriptor.TYPE_SINT32: -9,
    FieldDescriptor.TYPE_SINT64: -(2**50),
    FieldDescriptor.TYPE_FIXED32: 4_000_000_000,
    FieldDescriptor.TYPE_FIXED64: 2**60,
    FieldDescriptor.TYPE_SFIXED32: -11,
    FieldDescriptor.TYPE_SFIXED64: -(2**61),
    FieldDescriptor.TYPE_BOOL: True,
    FieldDescriptor.TYPE_FLOAT: 1.5,
    FieldDescriptor.TYPE_DOUBLE: -2.25,
    FieldDescriptor.TYPE_STRING: "h\u00e9llo",
    FieldDescriptor.TYPE_BYTES: b"\xff\x00",
}


def _value(field: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return max(v.number for v in field.enum_type.values)
    return _VALUES[field.type]


def _fill(message: Message, depth: int = 0, member: int = 0) -> None:
    """Set every field, two elements per list, one per map; of each oneof, its ``member``-th
    field (or its last when it has fewer)."""
    for field in message.DESCRIPTOR.fields:
        oneof = field.containing_oneof
        if oneof is not None and not oneof.name.startswith("_"):
            if field != oneof.fields[min(member, len(oneof.fields) - 1)]:
                continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key, value = field.message_type.fields
            entries = getattr(message, field.name)
            if value.message_type is not None:
                if depth < 3:
                    _fill(entries[_value(key)], depth + 1)
            else:
                entries[_value(key)] = _value(value)
        elif field.message_type is not None:
            if depth >= 3:
                continue
            if field.is_repeated:
                for _ in range(2):
                    _fill(getattr(message, field.name).add(), depth + 1)
            else:
                child = getattr(message, field.name)
                _fill(child, depth + 1)
                child.SetInParent()
        elif field.is_repeated:
            getattr(message, field.name).extend([_value(field)] * 2)
        else:
            setattr(message, field.name, _value(field))


def _plain(value: Any, renamed: set[str]) -> Any:
    """A value by field number, recursively: what the binary form says, names left out."""
    if isinstance(value, Message):
        name = value.DESCRIPTOR.full_name
        fields = {f.number: _plain(v, renamed) for f, v in value.ListFields()}
        return ("message", "renamed" if name in renamed else name, fields)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        return int(value)
    if hasattr(value, "items"):
        return sorted((_plain(k, renamed), _plain(v, renamed)) for k, v in value.items())
    if isinstance(value, (list, tuple)) or type(value).__name__.startswith("Repeated"):
        return [_plain(v, renamed) for v in value]
    return value


@dataclass(frozen=True)
class _Version:
    program: Program
    pool: descriptor_pool.DescriptorPool


def _protos(program: Program) -> dict[str, str]:
    return {s.proto_file: render_proto(s) for s in program.files}


def _compile(path: Path) -> _Version:
    """The program and its messages as its generated ``_pb2.py`` files declare them."""
    program = load_program(path).program
    return _Version(program, _pool(compile_protos(_protos(program))))


def _decode_problems(old: _Version, new: _Version) -> list[str]:
    """What of the old version's data the new version reads differently (empty: nothing)."""
    problems = []
    old_names = set(_message_names(old.pool, old.program))
    new_names = set(_message_names(new.pool, new.program))
    # A type gone from the new version is a rename at best: its values compare by field.
    renamed = (old_names - new_names) | (new_names - old_names)
    for name in sorted(old_names & new_names):
        descriptor = old.pool.FindMessageTypeByName(name)
        members = max((len(o.fields) for o in descriptor.oneofs), default=1)
        for member in range(members):
            before = message_factory.GetMessageClass(descriptor)()
            _fill(before, member=member)
            after = message_factory.GetMessageClass(new.pool.FindMessageTypeByName(name))()
            after.ParseFromString(before.SerializeToString())
            numbers = {f.number for f in after.DESCRIPTOR.fields}
            expected = _plain(before, renamed)
            got = _plain(after, renamed)
            kept = {n: v for n, v in expected[2].items() if n in numbers}
            if kept != got[2]:
                problems.append(f"{name}: encoded {kept}, decoded {got[2]}")
    problems.extend(_routing_problems(old.program, new.program))
    return problems


def _routing_problems(old: Program, new: Program) -> Iterator[str]:
    """Old data addressed by typename or name that the new version would not take."""
    functions = {f.name: f for f in new.functions}
    for before in old.functions:
        after = functions.get(before.name)
        if after is None:
            yield f"function {before.typename} is gone"
            continue
        states = {s.name: s for s in after.states}
        for state in before.states:
            if state.name not in states or states[state.name].typename != state.typename:
                yield f"state {before.name}.{state.name} is gone or retyped"
        oneway = {h.request.name for h in after.handlers if h.kind is HandlerKind.ONEWAY}
        handlers = {h.name: h for h in after.handlers}
        for handler in before.handlers:
            if handler.kind is HandlerKind.ONEWAY and handler.request.name not in oneway:
                yield f"no one-way handler of {before.name} takes {handler.request.name}"
            if handler.kind is HandlerKind.RPC:
                new_handler = handlers.get(handler.name)
                if new_handler is None or new_handler.kind is not HandlerKind.RPC:
                    yield f"rpc {before.name}.{handler.name} is gone"
                elif before.defers(handler.name) and not after.defers(handler.name):
                    yield f"rpc {before.name}.{handler.name} no longer completes deferred replies"
        timers = {t.name: t for t in after.timers}
        for timer in before.timers:
            if timer.name not in timers:
                yield f"timer {before.name}.{timer.name} is gone"
        calls = {c.continuation: c for c in after.calls}
        for call in before.calls:
            now = calls.get(call.continuation)
            targets = [(t.function_typename, t.handler) for t in call.targets]
            if now is None or [(t.function_typename, t.handler) for t in now.targets] != targets:
                yield f"continuation {before.name}.{call.continuation} is gone or retargeted"
    ingresses = {i.name: i for i in new.ingresses}
    for ingress in old.ingresses:
        now_in = ingresses.get(ingress.name)
        if now_in is None or (now_in.source, now_in.target.request.name) != (
            ingress.source,
            ingress.target.request.name,
        ):
            yield f"ingress {ingress.name} reads elsewhere or another type"
    egresses = {e.name: e for e in new.egresses}
    for egress in old.egresses:
        now_out = egresses.get(egress.name)
        if now_out is None or now_out.sink != egress.sink:
            yield f"egress {egress.name} writes elsewhere"


# ---------------------------------------------------------------- the edits


def _edit(text: str, rng: random.Random) -> str:
    """One or two edits: a field or message added, a name, type or number swapped, a line
    dropped or doubled."""
    for _ in range(rng.randint(1, 2)):
        lines = text.splitlines(keepends=True)
        openings = [
            i for i, line in enumerate(lines) if line.lstrip().startswith(("message ", "error "))
        ]
        tokens = _tokens(text)
        words = [i for i, t in enumerate(tokens) if t.isidentifier() or t.isdigit()]
        roll = rng.random()
        if roll < 0.25 and openings:
            # A new field or message: safe unless it takes a number in use (a compile error).
            i = rng.choice(openings)
            if "}" in lines[i]:
                lines.insert(i, f"message Added{i} {{ int32 n = 1; }}\n")
            else:
                number = rng.randint(4, 9)
                lines.insert(i + 1, f"  {rng.choice(_SCALARS)} added_{number} = {number};\n")
        elif roll < 0.45 and lines:
            i = rng.randrange(len(lines))
            if rng.random() < 0.7:
                del lines[i]
            else:
                lines.insert(i, lines[i])
        elif words:
            i = rng.choice(words)
            if tokens[i].isdigit():
                tokens[i] = str(rng.randint(1, 12))
            else:
                upper = tokens[i][0].isupper()
                pool = [t for t in tokens if t.isidentifier() and t[0].isupper() == upper]
                tokens[i] = rng.choice(pool + _SCALARS + [tokens[i] + "2"])
            lines = ["".join(tokens)]
        text = "".join(lines)
    return text


def _edits(count: int) -> Iterator[tuple[Path, str]]:
    rng = random.Random(20261202)
    for _ in range(count):
        seed = rng.choice(SEEDS)
        yield seed, _edit(seed.read_text(), rng)


def test_an_unflagged_change_decodes_what_the_old_version_wrote(tmp_path: Path) -> None:
    olds: dict[Path, _Version] = {}  # compiled when first needed: most edits never are
    flagged = compiled = 0
    for n, (seed, text) in enumerate(_edits(60)):
        path = tmp_path / str(n) / seed.name
        path.parent.mkdir()
        path.write_text(text)
        try:
            new = load_program(path)
        except CompileError:
            continue
        old_program = load_program(seed).program
        result = compare(old_program, new.program, new.sources)
        if result.findings:
            flagged += 1
            continue
        if _protos(new.program) == _protos(old_program):
            # The same messages: compiling them again would prove nothing.
            problems = list(_routing_problems(old_program, new.program))
        else:
            if seed not in olds:
                olds[seed] = _compile(seed)
            problems = _decode_problems(olds[seed], _compile(path))
            compiled += 1
        assert not problems, f"unflagged change of {seed.name} breaks old data:\n{text}\n{problems}"
    # The edits must exercise both sides of the property.
    assert flagged >= 5 and compiled >= 5, (flagged, compiled)


@pytest.mark.parametrize("rule_id", ["FIELD_WIRE_TYPE", "FIELD_SAME_LABEL", "RPC_ERRORS"])
def test_the_decode_check_sees_what_a_rule_flags(rule_id: str) -> None:
    """The property's oracle is not vacuous: it catches the changes these rules flag."""
    folder = FIXTURES / rule_id
    assert _decode_problems(_compile(folder / "old.sfidl"), _compile(folder / "new.sfidl"))
