"""Property tests of the whole compiler (front end, generators and protoc) on generated input.

Bad input of any kind must end in a :class:`CompileError`; valid programs, however odd
their names, must compile, and their generated Python must pass ``mypy --strict``.
Hypothesis runs derandomized with bounded examples, so every run tries the same inputs.
"""

from __future__ import annotations

import re
import shutil
import string
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sfidl.naming import pascal_case, snake_case
from sfidl.compiler import Compiled, compile_file
from sfidl.diagnostics import CompileError

ROOT = Path(__file__).parent.parent
SEEDS = sorted(ROOT.glob("examples/*/*.sfidl")) + sorted(
    p.parent / "main.sfidl"
    for p in ROOT.glob("tests/cases/*/expected.txt")
    if (p.parent / "main.sfidl").is_file()
)


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        # No shrinking: it can take minutes, and the failing example is printed either way.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@contextmanager
def _folder() -> Iterator[Path]:
    # Not pytest's tmp_path: hypothesis runs many examples in one test call.
    with tempfile.TemporaryDirectory(prefix="sfidl-fuzz-") as name:
        yield Path(name)


def _compile_or_diagnose(path: Path) -> Compiled | None:
    """Compile; a CompileError (with diagnostics) is fine, anything else fails the test."""
    try:
        return compile_file(path)
    except CompileError as error:
        assert error.diagnostics, "a CompileError without diagnostics"
        assert "Traceback" not in str(error)
        return None


# ---------------------------------------------------------------- bad input

# Tokens of the language, coarse: enough to swap and duplicate meaningful pieces.
_TOKEN = re.compile(r'\s+|//[^\n]*|/\*.*?\*/|"(?:[^"\\\n]|\\.)*"|\w+|->|.', re.S)

_KEYWORDS = (
    "namespace import endpoint kafka brokers kinesis region message error enum function "
    "state rpc on timer calls sends emits returns raises carrying timeout expire after write "
    "call ingress egress topic stream of for dead letters repeated optional map oneof reserved "
    "to max true false"
).split()
_PIECES = _KEYWORDS + [
    *'{}()<>;,.=:-"',
    "->",
    "/*",
    "*/",
    "///",
    "//",
    "\\",
    "\x00",
    "\t",
    "\r",
    "\u2028",
    "\ufeff",
    "0",
    "-1",
    "0x1F",
    "19000",
    "536870911",
    "536870912",
    "99999999999999999999999",
    "1.5e400",
    "0s",
    "5ms",
    "99999999999999999999d",
    '"x"',
    '"\\q"',
    '"\\0"',
    '""',
    "DESCRIPTOR",
    "sys",
    "_x",
    "class",
    "Clear",
    "café",
    "google.protobuf.Timestamp",
    "int32",
    "string",
    "bytes",
    "map<string, int32>",
]


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


@st.composite
def _mutated(draw: st.DrawFn, text: str) -> str:
    """``text`` with one to three token edits, or cut short."""
    tokens = _tokens(text)
    for _ in range(draw(st.integers(1, 3))):
        if not tokens:
            break
        i = draw(st.integers(0, len(tokens) - 1))
        edit = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "replace", "cut"]))
        if edit == "delete":
            del tokens[i]
        elif edit == "duplicate":
            tokens.insert(i, tokens[i])
        elif edit == "swap":
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif edit == "cut":
            joined = "".join(tokens)
            tokens = [joined[: draw(st.integers(0, len(joined)))]]
        else:
            piece = draw(st.sampled_from(_PIECES) | st.characters(codec="utf-8") | st.text())
            if edit == "insert":
                tokens.insert(i, " " + piece + " " if draw(st.booleans()) else piece)
            else:
                tokens[i] = piece
    return "".join(tokens)


@st.composite
def _seed_and_mutation(draw: st.DrawFn) -> tuple[Path, str]:
    seed = draw(st.sampled_from(SEEDS))
    # surrogateescape: a seed that is not UTF-8 (on purpose) keeps its bad bytes as such.
    return seed, draw(_mutated(seed.read_text(encoding="utf-8", errors="surrogateescape")))


def _write_beside_imports(seed: Path, text: str, folder: Path) -> Path:
    """A copy of the seed's folder (its imports) with the seed's file replaced by ``text``."""
    shutil.copytree(seed.parent, folder, dirs_exist_ok=True, ignore=_not_sfidl)
    target = folder / seed.name
    # surrogatepass: a lone surrogate drawn by hypothesis becomes bytes that are not UTF-8.
    target.write_bytes(text.encode("utf-8", "surrogatepass"))
    return target


def _not_sfidl(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if not n.endswith(".sfidl") and not Path(folder, n).is_dir()]


@_settings(600)
@given(_seed_and_mutation())
def test_mutated_sources_compile_or_give_diagnostics(case: tuple[Path, str]) -> None:
    seed, text = case
    with _folder() as folder:
        _compile_or_diagnose(_write_beside_imports(seed, text, folder))


@_settings(300)
@given(
    st.one_of(
        st.text(),
        st.lists(st.sampled_from(_PIECES + [" ", "\n", "a", "1"]) | st.text(max_size=3)).map(
            lambda pieces: "namespace a;\n" + "".join(pieces)
        ),
        st.lists(st.sampled_from(_PIECES + [" ", "\n"]), max_size=60).map(" ".join),
    )
)
def test_random_text_compiles_or_gives_diagnostics(text: str) -> None:
    with _folder() as folder:
        path = folder / "random.sfidl"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        _compile_or_diagnose(path)


@_settings(60)
@given(st.binary(max_size=200))
def test_random_bytes_compile_or_give_diagnostics(data: bytes) -> None:
    with _folder() as folder:
        path = folder / "bytes.sfidl"
        path.write_bytes(b"namespace a;\n" + data)
        _compile_or_diagnose(path)


# ---------------------------------------------------------------- valid programs

_TYPE_NAMES = st.sampled_from(
    "A Z Id Type List Str Int Bytes Bool Object Error ValueError KeyError Exception Message "
    "Enum Context State Request Reply Timeout Any Timestamp Empty Self Optional Value Item "
    "M2 X_y".split()
) | st.from_regex(r"[A-Z][a-z0-9]{0,5}", fullmatch=True)
_LOWER_NAMES = st.sampled_from(
    "id type list str int bytes bool float object self cls x y value key items keys values "
    "request reply correlation_id builtins typing google to max message map optional repeated "
    "returns state timer calls get set send run count error".split()
) | st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True).filter(lambda n: not _reserved(n))
# Names of what the stubs import, and builtins their annotations use: the stubs name those
# privately (`_sf`, `_builtins.str`), so members and functions may take them.
_MEMBER_NAMES = _LOWER_NAMES | st.sampled_from(
    "sf abc annotations timedelta builtins property frozenset super tuple".split()
)
_FUNCTION_NAMES = st.sampled_from(
    "F G Id Type List Object Main Self Str Int Super Sf Abc Builtins Property Frozenset".split()
) | st.from_regex(r"F[a-z0-9]{0,4}", fullmatch=True)
_SCALARS = (
    "double float int32 int64 uint32 uint64 sint32 sint64 fixed32 fixed64 sfixed32 sfixed64 "
    "bool string bytes"
).split()
_MAP_KEYS = [s for s in _SCALARS if s not in ("double", "float", "bytes")]
_WELL_KNOWN = ["google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.Struct"]
_STATE_DEFAULTS: dict[str, st.SearchStrategy[str]] = {
    "int32": st.integers(-(2**31), 2**31 - 1).map(str),
    "int64": st.integers(-(2**63), 2**63 - 1).map(str),
    "bool": st.sampled_from(["true", "false"]),
    "float": st.sampled_from(["0", "1.5", "-2e3", ".5"]),
    "double": st.sampled_from(["0", "-1.25", "1e10"]),
    "string": st.sampled_from(['""', '"x"', '"\\"quoted\\" \\\\ \\n"', '"ünïcode"', '"{}"']),
}
_DOCS = st.sampled_from(
    ["", '/// A "doc" with \\ and """ quotes.\n', "/// ünïcode ✓\n/// two lines\n", "/// x\n"]
)


def _reserved(name: str) -> bool:
    import keyword

    return keyword.iskeyword(name) or name.startswith("sfidl")


class _Scope:
    """Names taken in one protobuf scope, by the rules protoc and the checker apply."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def fresh(self, draw: st.DrawFn, names: st.SearchStrategy[str]) -> str:
        name = draw(names.filter(lambda n: n not in self.names and n.lower() not in self.lower))
        self.names.add(name)
        return name

    @property
    def lower(self) -> set[str]:
        return {n.lower() for n in self.names}


def _json(name: str) -> str:
    return re.sub(r"_+(.)?", lambda m: (m.group(1) or "").upper(), name)


@st.composite
def _enum(draw: st.DrawFn, scope: _Scope) -> str:
    name = scope.fresh(draw, _TYPE_NAMES)
    prefix = snake_case(name).upper()
    words = draw(st.lists(st.from_regex(r"[A-Z][A-Z0-9]{0,4}", fullmatch=True), max_size=3))
    values = [f"{prefix}_UNSPECIFIED"] + [
        f"{prefix}_{w}" for w in dict.fromkeys(words) if w != "UNSPECIFIED"
    ]
    values = [v for v in values if v not in scope.names]
    scope.names.update(values)
    body = " ".join(f"{v} = {i};" for i, v in enumerate(values))
    return f"{draw(_DOCS)}enum {name} {{ {body} }}\n"


@st.composite
def _message(
    draw: st.DrawFn, scope: _Scope, keyword: str, types: list[str], outer: str = ""
) -> tuple[str, str]:
    """A message's text and name; nested messages join ``types`` as ``Outer.Inner``."""
    name = scope.fresh(draw, _TYPE_NAMES)
    inner = _Scope()
    inner.names.add(name)  # a nested enum named like its message is an error
    nested: list[str] = []
    if not outer:
        for _ in range(draw(st.integers(0, 1))):
            nested.append(draw(_message(inner, "message", types, name))[0])
        if draw(st.booleans()):
            nested.append(draw(_enum(inner)))
    numbers = draw(
        st.lists(
            st.integers(1, 536_870_911).filter(lambda n: not 19_000 <= n <= 19_999),
            unique=True,
            max_size=6,
        )
    )
    jsons: set[str] = set()
    plain: list[str] = []
    oneof: list[str] = []
    for number in numbers:
        field = inner.fresh(draw, _LOWER_NAMES.filter(lambda n: _json(n) not in jsons))
        jsons.add(_json(field))
        value = draw(st.sampled_from(_SCALARS + types + _WELL_KNOWN))
        kind = draw(st.sampled_from(["plain", "optional", "repeated", "map", "oneof"]))
        if kind == "map":
            key = draw(st.sampled_from(_MAP_KEYS))
            plain.append(f"map<{key}, {value}> {field} = {number};")
        elif kind == "oneof":
            oneof.append(f"{value} {field} = {number};")
        else:
            label = "" if kind == "plain" else kind + " "
            plain.append(f"{label}{value} {field} = {number};")
    members = plain + nested
    if oneof:
        group = inner.fresh(draw, _LOWER_NAMES)
        members.append(f"oneof {group} {{ {' '.join(oneof)} }}")
    free = [n for n in range(1, 30) if n not in numbers]
    pair = next(n for n in free[1:] if n + 1 in free)
    if draw(st.booleans()):
        members.append(f'reserved {free[0]}, {pair} to {pair + 1}, "legacy_{name.lower()}";')
    if keyword == "message":
        types.append(f"{outer}.{name}" if outer else name)
    body = "\n".join(members)
    return f"{draw(_DOCS)}{keyword} {name} {{\n{body}\n}}\n", name


@st.composite
def _program(draw: st.DrawFn) -> str:
    """A valid program: every rule of docs/language.md kept, names as odd as allowed."""
    package = _Scope()
    parts = draw(
        st.lists(
            st.sampled_from("a com example id type list message x1 _y".split()),
            min_size=1,
            max_size=3,
        )
    )
    out = [f"{draw(_DOCS)}namespace {'.'.join(parts)};\n"]
    if draw(st.booleans()):
        out.append('endpoint "http://functions:8000/statefun";\nkafka brokers "k1:9092,k2:9093";\n')
    messages: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        out.append(draw(_message(package, "message", messages))[0])
    errors: list[str] = []
    for _ in range(draw(st.integers(0, 2))):
        text, name = draw(_message(package, "error", messages))
        out.append(text)
        errors.append(name)
    for _ in range(draw(st.integers(0, 2))):
        out.append(draw(_enum(package)))

    # Signatures first, so that effects may name any handler of any function.
    functions: dict[str, dict[str, tuple[str, str]]] = {}  # name -> handler -> (kind, request)
    taken_typenames: set[str] = set()
    for i in range(draw(st.integers(1, 3))):
        function = draw(_FUNCTION_NAMES.filter(lambda n: snake_case(n) not in taken_typenames))
        taken_typenames.add(snake_case(function))
        members = _Scope()
        handlers: dict[str, tuple[str, str]] = {}
        oneway_requests: set[str] = set()
        for j in range(draw(st.integers(1, 3))):
            handler = members.fresh(draw, _MEMBER_NAMES.filter(lambda n: "_" not in n))
            free = [m for m in messages if m not in oneway_requests]
            kind = "on" if (i == 0 and j == 0) or not draw(st.booleans()) else "rpc"
            if kind == "on" and not free:
                kind = "rpc"
            request = draw(st.sampled_from(free if kind == "on" else messages))
            if kind == "on":
                oneway_requests.add(request)
            handlers[handler] = (kind, request)
        functions[function] = handlers
    egresses = [
        f"e{i}_{draw(_LOWER_NAMES.filter(lambda n: '_' not in n))}"
        for i in range(draw(st.integers(0, 2)))
    ]
    rpcs = [(f, h) for f, hs in functions.items() for h, (k, _) in hs.items() if k == "rpc"]
    sends = [(f, h) for f, hs in functions.items() for h, (k, _) in hs.items() if k == "on"]
    for function, handlers in functions.items():
        members = _Scope()
        members.names.update(handlers)
        called: set[tuple[str, str]] = set()
        lines = []
        for _ in range(draw(st.integers(0, 3))):
            state = members.fresh(draw, _MEMBER_NAMES)
            type_ = draw(st.sampled_from([*_STATE_DEFAULTS, *messages]))
            default = ""
            if type_ in _STATE_DEFAULTS and draw(st.booleans()):
                default = " = " + draw(_STATE_DEFAULTS[type_])
            expiry = draw(
                st.sampled_from(["", " expire after write 1h", " expire after call 999999999d"])
            )
            lines.append(f"state {state}: {type_}{default}{expiry};")
        timers = [
            (members.fresh(draw, _MEMBER_NAMES), draw(st.sampled_from(messages)))
            for _ in range(draw(st.integers(0, 2)))
        ]
        for member, (kind, request) in [*handlers.items(), *[(t, ("timer", m)) for t, m in timers]]:
            effects = []
            open_rpcs = [r for r in rpcs if r not in called]
            if open_rpcs and draw(st.booleans()):
                targets = draw(
                    st.lists(st.sampled_from(open_rpcs), min_size=1, max_size=2, unique=True)
                )
                called.update(targets)
                written = ", ".join(f"{f}.{h}" for f, h in targets)
                if len(targets) > 1:
                    written = f"({written})"
                continuation = members.fresh(draw, _MEMBER_NAMES)
                carrying = draw(
                    st.sampled_from(["", *(f" carrying {m}" for m in messages + errors)])
                )
                timeout = draw(st.sampled_from(["", " timeout 5s", " timeout 250ms"]))
                effects.append(f" calls {written} -> {continuation}{carrying}{timeout}")
            if sends and draw(st.booleans()):
                targets = draw(
                    st.lists(st.sampled_from(sends), min_size=1, max_size=2, unique=True)
                )
                effects.append(" sends " + ", ".join(f"{f}.{h}" for f, h in targets))
            if egresses and draw(st.booleans()):
                effects.append(
                    " emits "
                    + ", ".join(draw(st.lists(st.sampled_from(egresses), min_size=1, unique=True)))
                )
            draw(st.randoms()).shuffle(effects)
            if kind == "rpc":
                reply = draw(st.sampled_from(messages))
                # An error becomes a field of the reply envelope named after it, beside
                # `correlation_id` and `reply` (two such fields are a diagnostic).
                raisable = [e for e in errors if snake_case(e) not in ("reply", "correlation_id")]
                raised = (
                    draw(st.lists(st.sampled_from(raisable), unique_by=snake_case, max_size=2))
                    if raisable
                    else []
                )
                raises = " raises " + ", ".join(raised) if raised else ""
                lines.append(f"rpc {member}({request}) returns {reply}{raises}{''.join(effects)};")
            else:
                lines.append(f"{kind} {member}({request}){''.join(effects)};")
        body = "\n  ".join(lines)
        out.append(f"{draw(_DOCS)}function {function} {{\n  {body}\n}}\n")
    for i, (function, handler) in enumerate(sends):
        of = f" of {functions[function][handler][1]}" if draw(st.booleans()) else ""
        channel = draw(st.sampled_from(['kafka topic "in.topic-1"', 'kinesis stream "in_stream"']))
        out.append(f"ingress in{i}: {channel}{of} -> {function}.{handler};\n")
    for egress in egresses:
        out.append(
            f'egress {egress}: kafka topic "{egress}" of {draw(st.sampled_from(messages + errors))};\n'
        )
    if draw(st.booleans()):
        out.append('egress dead: kinesis stream "dead-letters" for dead letters;\n')
    return "".join(out)


_STEMS = st.sampled_from(["main", "x", "id", "list", "type_", "sys", "app"])


@_settings(40)
@given(_program(), _STEMS)
def test_valid_programs_compile(text: str, stem: str) -> None:
    with _folder() as folder:
        path = folder / f"{stem}.sfidl"
        path.write_text(text, encoding="utf-8")
        try:
            compiled = compile_file(path)
        except CompileError as error:
            raise AssertionError(f"a valid program was rejected:\n{text}\n{error}") from None
        assert {f"{stem}.proto", f"{stem}_pb2.py", f"{stem}_pb2.pyi", f"{stem}_sfidl.py"} <= set(
            compiled.files
        )


_MYPY_CACHE = tempfile.TemporaryDirectory(prefix="sfidl-fuzz-mypy-")


@_settings(3)
@given(st.lists(_program(), min_size=2, max_size=2))
def test_valid_programs_pass_mypy_strict_and_import(texts: list[str]) -> None:
    """A few programs compiled into one folder (distinct stems): one mypy run over all,
    then their stubs imported (which builds every declared class and value)."""
    with _folder() as folder:
        out = folder / "out"
        out.mkdir()
        for i, text in enumerate(texts):
            path = folder / f"p{i}.sfidl"
            path.write_text(text, encoding="utf-8")
            for name, content in compile_file(path).files.items():
                (out / name).write_bytes(content)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "mypy",
                "--strict",
                "--config-file",
                str(ROOT / "pyproject.toml"),
            ]
            + ["--cache-dir", _MYPY_CACHE.name, "--show-error-codes", "."],
            cwd=out,
            capture_output=True,
            text=True,
        )
        sources = "\n".join(texts)
        assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{sources}"
        assert f"no issues found in {2 * len(texts)} source files" in result.stdout
        for i, text in enumerate(texts):
            # One process each: two programs may declare the same protobuf names.
            imported = subprocess.run(
                [sys.executable, "-c", f"import p{i}_sfidl"],
                cwd=out,
                capture_output=True,
                text=True,
            )
            assert imported.returncode == 0, f"{imported.stderr}\n{text}"


def test_names_of_builtins_and_of_the_stubs_imports_compile_import_and_type_check() -> None:
    # A client accessor `str` (for `Str`) before `def main(self, id: _builtins.str)`, a
    # function `Self` (the application's argument `self`), states named like the imports.
    text = (
        "namespace a;\nmessage M {}\nmessage N {}\nfunction Str { on h(M); }\n"
        "function Main { on h(M); }\nfunction G { state sf: int32; state abc: string;\n"
        "  on g(M) sends Str.h, Main.h; on k(N); }\nfunction Self { on str(M); }\n"
        'ingress i: kafka topic "t" -> G.g;\n'
    )
    test_valid_programs_pass_mypy_strict_and_import.hypothesis.inner_test(  # type: ignore[attr-defined]
        [text]
    )


def test_names_that_hide_nothing_where_they_stand_are_accepted() -> None:
    # A handler `str` or a state `tuple` stand where no annotation uses those builtins.
    text = (
        "namespace a;\nmessage M {}\nfunction F { state tuple: int32; on str(M); }\n"
        'ingress i: kafka topic "t" -> F.str;\n'
    )
    test_valid_programs_pass_mypy_strict_and_import.hypothesis.inner_test(  # type: ignore[attr-defined]
        [text]
    )
