"""Declared names against the generated Python: what clashed by accident now works, and what
Python itself forbids is refused by the checker (sfidl/check/python_names.py), every clash
of a file in one run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sfidl.cli import main
from sfidl.compiler import compile_file

REPO = Path(__file__).resolve().parent.parent

# Names of the stubs' imports, of builtins their annotations use, of generated classes:
# `function Self` (the application's argument `self`), `function Str` (a client accessor
# `str`), `function Super` (`super`), `state sf`, a handler `str`, a continuation named like
# an error class, a handler named like its own context class, an egress `property`, a timer
# `abc`; and a file `timestamp.sfidl` using google.protobuf.Timestamp (two `timestamp_pb2`).
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
  on go(N) sends Self.str;
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


app = TimestampApp(self=SelfImpl(), str=StrImpl(), super=SuperImpl())
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
