"""Declared names against the generated Python: what clashed by accident now works, and what
Python itself forbids is refused by the checker (sfidl/check/python_names.py), every clash
of a file in one run, and `sfidl check` finds it without running protoc or black."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sfidl.cli import main
from sfidl.compiler import check_file, compile_file
from sfidl.diagnostics import CompileError

REPO = Path(__file__).resolve().parent.parent

# Names of the stubs' imports, of builtins their annotations use, of generated classes:
# `function Self` (the application's argument `self`), `function Str` (a client accessor
# `str`), `function Super` (`super`), `state sf`, a handler `str`, a continuation named like
# an error class, a handler named like its own context class, an egress `property`, a timer
# `abc`; `function For` (a keyword once lowered: `for_`); and a file `timestamp.sfidl` using
# google.protobuf.Timestamp (two `timestamp_pb2`).
ODD = """\
namespace odd;

message M { int32 n = 1; }
message N {}
message R { int32 n = 1; }
error Oops {}

function Self {
  state sf: int32;
  state str: string;
  state at: google.protobuf.Timestamp;
  on str(M) calls Str.ask -> OopsError emits property sets abc;
  timer abc(N);
  rpc SelfContext(N) returns R raises Oops;
}

function Str {
  rpc ask(M) returns R raises Oops;
}

function Super {
  on go(N) sends Self.str, For.go;
}

function For {
  state seen: int32;
  on go(N);
}

ingress i: kafka topic "t" -> Self.str;
ingress j: kafka topic "u" -> Super.go;
egress property: kafka topic "p" of R;
"""

APP = """\
from __future__ import annotations

from datetime import timedelta

import timestamp_pb2 as pb
import timestamp_sfidl as stubs
from timestamp_sfidl import (
    OopsError,
    For,
    ForContext,
    Self,
    SelfContext,
    SelfStrContext,
    Str,
    StrAskOutcome,
    StrContext,
    Super,
    SuperGoContext,
    TimestampApp,
)


class SelfImpl(Self):
    def str(self, ctx: SelfStrContext, message: pb.M) -> None:
        ctx.state.sf += message.n
        ctx.state.str = "seen"
        ctx.state.at.seconds = 7
        ctx.functions.str("s").ask(message)
        ctx.timers.abc.after(timedelta(seconds=1), pb.N())

    # Below a method `SelfContext`, the class `SelfContext` is the method (class scope comes
    # first, for the stubs as for this class): name the class through its module.
    def SelfContext(self, ctx: SelfContext, request: pb.N) -> pb.R | OopsError:
        return OopsError(pb.Oops())

    def abc(self, ctx: stubs.SelfContext, message: pb.N) -> None:
        return None

    def OopsError(self, ctx: SelfStrContext, outcome: StrAskOutcome, request: pb.M) -> None:
        assert isinstance(outcome, pb.R)
        ctx.egress.property.write(outcome)


class StrImpl(Str):
    def ask(self, ctx: StrContext, request: pb.M) -> pb.R:
        return pb.R(n=request.n * 10)


class SuperImpl(Super):
    def go(self, ctx: SuperGoContext, message: pb.N) -> None:
        ctx.functions.self("me").str(pb.M(n=1))
        ctx.functions.for_("loop").go(message)


class ForImpl(For):
    def go(self, ctx: ForContext, message: pb.N) -> None:
        ctx.state.seen += 1


app = TimestampApp(self=SelfImpl(), str=StrImpl(), super=SuperImpl(), for_=ForImpl())
"""

RUN = """\
import timestamp_pb2 as pb
from app import app
from sfidl.testing import Harness

with Harness(app) as h:
    h.send("odd/super", "x", pb.N())
    h.send("odd/self", "me", pb.M(n=4))
    h.run_until_quiet()
    assert h.state("odd/self", "me", "sf") == 5
    assert h.state("odd/self", "me", "at").seconds == 7
    assert h.state("odd/for", "loop", "seen") == 1
    assert sorted(r.value.n for r in h.egress("property")) == [10, 40]
print("ran")
"""


def _compile_into(text: str, folder: Path, stem: str = "timestamp") -> Path:
    source = folder / f"{stem}.sfidl"
    source.write_text(text)
    out = folder / "out"
    out.mkdir()
    for name, content in compile_file(source).files.items():
        (out / name).write_bytes(content)
    return out


def test_names_of_builtins_imports_and_generated_classes_work(tmp_path: Path) -> None:
    out = _compile_into(ODD, tmp_path)
    stubs = (out / "timestamp_sfidl.py").read_text()
    # The two modules named `timestamp_pb2` get two private names.
    assert "import timestamp_pb2 as _timestamp_pb2\n" in stubs
    assert "from google.protobuf import timestamp_pb2 as _timestamp_pb2_\n" in stubs
    (out / "app.py").write_text(APP)
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", str(REPO / "pyproject.toml")]
        + ["--cache-dir", str(tmp_path / "mypy"), "."],
        cwd=out,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    ran = subprocess.run(
        [sys.executable, "-c", RUN], cwd=out, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "ran\n"


# Three functions, each clashing with a name another declaration generates.
THREE_CLASHES = """\
namespace c;
message M {}
error Oops {}
function F { on go(M) sends G.go; state n: int32; }
function FState { on go(M); }
function FGoContext { on go(M); }
function OopsError { on go(M); }
function G { on go(M); }
ingress i: kafka topic "t" -> F.go;
"""


def test_every_clash_is_reported_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c.sfidl").write_text(THREE_CLASHES)
    assert main(["check", str(tmp_path / "c.sfidl")]) == 1
    err = capsys.readouterr().err
    assert err.count("error[name-clash]") == 3, err
    assert err.rstrip().endswith("3 errors")
    for name, line in (("FState", 5), ("FGoContext", 6), ("OopsError", 7)):
        assert f"c.sfidl:{line}:10: error[name-clash]: the generated Python name `{name}`" in err


def test_check_runs_neither_protoc_nor_black() -> None:
    # Not even imported: check holds every rule, so it needs none of the generators' tools.
    script = textwrap.dedent("""\
        import sys
        from sfidl.cli import main
        assert main(["check", "examples/shop/shop.sfidl", "examples/fraud/fraud.sfidl"]) == 0
        assert main(["check", sys.argv[1]]) == 1
        tools = ("black", "grpc_tools", "mypy_protobuf", "google.protobuf.compiler", "jinja2")
        tools += ("sfidl.gen",)
        loaded = sorted(m for m in sys.modules if m.startswith(tools))
        assert not loaded, loaded
        """)
    bad = REPO / "tests" / "cases" / "python_name_clashes" / "main.sfidl"
    result = subprocess.run(
        [sys.executable, "-c", script, str(bad)], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def _long_name_program(length: int) -> str:
    name = "L" + "l" * (length - 1)
    return (
        f"namespace a;\nmessage {name} {{ int32 x = 1; }}\n"
        f'function F {{ on go({name}); }}\ningress i: kafka topic "t" -> F.go;\n'
    )


def test_a_65000_character_name_compiles(tmp_path: Path) -> None:
    out = _compile_into(_long_name_program(65_000), tmp_path, "long")
    assert "L" + "l" * 64_999 in (out / "long_sfidl.py").read_text()


def test_a_name_too_long_for_protoc_is_refused_by_check_as_by_compile(tmp_path: Path) -> None:
    # protoc accepts a full name of 65,535 characters (`a.` + 65,531 + `.x` here), not more.
    for length, fits in ((65_531, True), (65_532, False), (100_000, False)):
        path = tmp_path / "long.sfidl"
        path.write_text(_long_name_program(length))
        if fits:
            check_file(path)
            compile_file(path)
            continue
        with pytest.raises(CompileError) as checked:
            check_file(path)
        with pytest.raises(CompileError) as compiled:
            compile_file(path)
        assert checked.value.diagnostics == compiled.value.diagnostics
        [diagnostic] = checked.value.diagnostics  # the field `x`, or the message alone
        assert diagnostic.code == "name-too-long"
        assert "characters long; protoc accepts at most 65,535" in diagnostic.message


@pytest.mark.parametrize(
    "declaration",
    [
        # A map field's entry message `<Name>Entry` has a field `value`: `a.Short.<Name>Entry.value`.
        "message Short {{ map<string, int32> {name} = 1; }}",
        # An enum value is a sibling of its enum: `a.<VALUE>`.
        "enum E {{ {name} = 0; }}",
        "message Short {{ oneof {name} {{ int32 x = 1; }} }}",
    ],
    ids=["map-entry", "enum-value", "oneof"],
)
def test_protocs_limit_is_the_checkers_at_the_last_character(
    tmp_path: Path, declaration: str
) -> None:
    # The longest full name protoc accepts, and one character more.
    prefix, suffix = declaration.split("{name}")
    longest = {"map-entry": 65_516, "enum-value": 65_533, "oneof": 65_527}
    kind = "map-entry" if "map" in prefix else "enum-value" if "enum" in prefix else "oneof"
    for length in (longest[kind], longest[kind] + 1):
        name = ("V" if kind == "enum-value" else "f") * length
        path = tmp_path / "edge.sfidl"
        path.write_text(f"namespace a;\n{prefix.format()}{name}{suffix.format()}\n")
        if length == longest[kind]:
            compile_file(path)
            continue
        with pytest.raises(CompileError) as checked:
            check_file(path)
        assert [d.code for d in checked.value.diagnostics] == ["name-too-long"]


def test_a_handler_named_like_a_client_class_keeps_the_client_class_defined(
    tmp_path: Path,
) -> None:
    # `CartAddToInv` is both Cart's handler and the client class of Cart.add's call: the
    # client class must be defined under its own name (an alias is for annotations only).
    text = """\
namespace t;
message A { string x = 1; }
message B { string y = 1; }
message C { string z = 1; }
function Inv { rpc reserve(A) returns B; }
function Cart {
  on add(A) calls Inv.reserve -> done;
  on CartAddToInv(C);
}
ingress i: kafka topic "a" of A -> Cart.add;
"""
    out = _compile_into(text, tmp_path, "t")
    result = subprocess.run(
        [sys.executable, "-c", "import t_sfidl; assert t_sfidl.CartAddToInv"],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
