"""sfidl.index: every kind of name resolves to its declaration as the checker resolves it,
across imports and in a program with errors; and the names a file may complete."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pygls.workspace import PositionCodec

from sfidl.check.envelopes import envelope_names
from sfidl.diagnostics import Span
from sfidl.frontend import analyze
from sfidl.index import Declaration, Index, Kind, build_index
from sfidl.lsp.positions import from_position, to_range

LIB = """\
namespace lib;
message Money { int64 cents = 1; }
function Bank { rpc pay(Money) returns Money; on log(Money); }
"""

APP = """\
namespace app;
import "lib.sfidl";

/// A request.
message Req {
  Inner inner = 1;
  message Inner { Kind kind = 1; }
  enum Kind { KIND_A = 0; }
}
message Rep { lib.Money money = 1; }
/// Refused.
error Refused { string why = 1; }
message Tick {}
message Note {}

/// Does things.
exclusive function Worker {
  /// The count.
  state count: int32 = 0 expire after write 90m;
  state last: Req;
  state moved: Rep migrate from Tick;
  rpc work(Req) returns Rep raises Refused
      calls lib.Bank.pay -> paid carrying Note timeout 5s
      emits out
      sets tick
      completes work;
  on poke(Note) calls lib.Bank.pay -> paid carrying Note timeout 5s sends lib.Bank.log;
  timer tick(Tick) completes work;
}

ingress pokes: kafka topic "pokes" of Note -> Worker.poke;
/// Results.
egress out: kafka topic "out" of Rep;
"""


def _index(tmp_path: Path, app: str = APP) -> tuple[Index, str, str]:
    root, lib = tmp_path / "app.sfidl", tmp_path / "lib.sfidl"
    analysis = analyze(root, {root: app, lib: LIB})
    files = {path: display for display, path in analysis.files.items()}
    return build_index(analysis.units), files[root], files[lib]


def _where(text: str, needle: str, offset: int = 0, nth: int = 0) -> tuple[int, int]:
    """The 1-based line and column of the ``nth`` ``needle`` (plus ``offset``)."""
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    index += offset
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def _named(
    index: Index, file: str, text: str, needle: str, offset: int = 0, nth: int = 0
) -> Declaration:
    found = index.at(file, *_where(text, needle, offset, nth))
    assert found is not None, needle
    return found[1]


@pytest.mark.parametrize(
    ("needle", "offset", "nth", "kind", "qualified", "in_lib", "declared"),
    [
        ("Inner inner", 0, 0, Kind.MESSAGE, "app.Req.Inner", False, ("Inner {", 0)),
        ("Kind kind", 0, 0, Kind.ENUM, "app.Req.Kind", False, ("Kind {", 0)),
        ("lib.Money money", 4, 0, Kind.MESSAGE, "lib.Money", True, ("Money {", 0)),
        ("raises Refused", 7, 0, Kind.ERROR, "app.Refused", False, ("Refused {", 0)),
        ("state last: Req", 12, 0, Kind.MESSAGE, "app.Req", False, ("Req {", 0)),
        ("migrate from Tick", 13, 0, Kind.MESSAGE, "app.Tick", False, ("Tick {", 0)),
        ("lib.Bank.pay", 5, 0, Kind.FUNCTION, "lib/bank", True, ("Bank {", 0)),
        ("lib.Bank.pay", 9, 1, Kind.RPC, "Bank.pay", True, ("pay(", 0)),
        ("-> paid", 3, 1, Kind.CONTINUATION, "Worker.paid", False, ("paid", 0)),
        ("carrying Note", 9, 1, Kind.MESSAGE, "app.Note", False, ("Note {", 0)),
        ("emits out", 6, 0, Kind.EGRESS, "app/out", False, ("out:", 0)),
        ("sets tick", 5, 0, Kind.TIMER, "Worker.tick", False, ("tick(", 0)),
        ("completes work", 10, 1, Kind.RPC, "Worker.work", False, ("work(", 0)),
        ("sends lib.Bank.log", 15, 0, Kind.ONEWAY, "Bank.log", True, ("log(", 0)),
        ("-> Worker.poke", 3, 0, Kind.FUNCTION, "app/worker", False, ("Worker {", 0)),
        ("-> Worker.poke", 10, 0, Kind.ONEWAY, "Worker.poke", False, ("poke(", 0)),
        ('"pokes" of Note', 11, 0, Kind.MESSAGE, "app.Note", False, ("Note {", 0)),
        ('"out" of Rep', 9, 0, Kind.MESSAGE, "app.Rep", False, ("Rep {", 0)),
    ],
)
def test_a_reference_names_its_declaration(
    tmp_path: Path,
    needle: str,
    offset: int,
    nth: int,
    kind: Kind,
    qualified: str,
    in_lib: bool,
    declared: tuple[str, int],
) -> None:
    index, app, lib = _index(tmp_path)
    target = _named(index, app, APP, needle, offset, nth)
    assert (target.kind, target.qualified) == (kind, qualified)
    text, file = (LIB, lib) if in_lib else (APP, app)
    line, column = _where(text, *declared)
    assert (target.span.file, target.span.line, target.span.column) == (file, line, column)
    # The end of a name counts too: where the cursor is after typing it.
    found = index.at(app, *_where(APP, needle, offset, nth))
    assert found is not None
    span = found[0]
    assert index.at(app, span.end_line, span.end_column) == found


def test_declarations_carry_their_text_and_doc(tmp_path: Path) -> None:
    index, app, _ = _index(tmp_path)
    state = _named(index, app, APP, "count:")
    assert (state.signature, state.doc) == (
        "state count: int32 = 0 expire after write 90m",
        "The count.",
    )
    work = _named(index, app, APP, "work(")
    assert work.signature == (
        "rpc work(Req) returns Rep raises Refused\n"
        "    calls lib.Bank.pay -> paid carrying Note timeout 5s\n"
        "    emits out\n"
        "    sets tick\n"
        "    completes work"
    )
    worker = _named(index, app, APP, "Worker {")
    assert worker.doc == "Does things."
    assert worker.signature == (
        "exclusive function Worker {\n"
        "  state count: int32 = 0 expire after write 90m;\n"
        "  state last: Req;\n"
        "  state moved: Rep migrate from Tick;\n"
        "  rpc work(Req) returns Rep raises Refused;\n"
        "  on poke(Note);\n"
        "  timer tick(Tick);\n"
        "}"
    )
    assert [(c.kind, c.name) for c in worker.children] == [
        (Kind.STATE, "count"),
        (Kind.STATE, "last"),
        (Kind.STATE, "moved"),
        (Kind.RPC, "work"),
        (Kind.CONTINUATION, "paid"),
        (Kind.ONEWAY, "poke"),
        (Kind.TIMER, "tick"),
    ]
    paid = _named(index, app, APP, "-> paid", 3)
    assert paid.signature == (
        "continuation paid  // calls lib.Bank.pay -> paid carrying Note timeout 5s"
    )
    ingress = _named(index, app, APP, "pokes:")
    assert ingress.signature == 'ingress pokes: kafka topic "pokes" of Note -> Worker.poke'
    egress = _named(index, app, APP, "out:")
    assert (egress.signature, egress.doc) == ('egress out: kafka topic "out" of Rep', "Results.")
    refused = _named(index, app, APP, "Refused {")
    assert (refused.signature, refused.doc) == ("error Refused {\n  string why = 1;\n}", "Refused.")
    assert _named(index, app, APP, "Tick {").signature == "message Tick {}"
    request = _named(index, app, APP, "Req {")
    assert request.signature == "message Req {\n  Inner inner = 1;\n}"
    assert [(c.kind, c.name) for c in request.children] == [
        (Kind.FIELD, "inner"),
        (Kind.MESSAGE, "Inner"),
        (Kind.ENUM, "Kind"),
    ]
    # The outline's range of a declaration holds its children.
    assert (request.extent.line, request.extent.end_line) == (5, 8)


def test_an_index_of_a_program_with_errors(tmp_path: Path) -> None:
    broken = APP.replace("state last: Req;", "state last: Rqe;")
    index, app, _ = _index(tmp_path, broken)
    assert index.at(app, *_where(broken, "Rqe")) is None
    assert _named(index, app, broken, "raises Refused", 7).qualified == "app.Refused"


def test_the_names_a_file_may_write(tmp_path: Path) -> None:
    index, app, lib = _index(tmp_path)
    types_ = [name for name, _ in index.type_names(app)]
    assert {"Req", "Req.Inner", "Req.Kind", "Refused", "lib.Money"} <= set(types_)
    assert "google.protobuf.Timestamp" in types_
    generated = {n for h in ("work",) for n in envelope_names("Worker", h)}
    assert generated and not generated & set(types_)
    assert [name for name, _ in index.function_names(app)] == ["Worker", "lib.Bank"]
    assert [name for name, _ in index.function_names(lib)] == ["Bank"]  # lib imports nothing
    bank = index.function(app, "lib.Bank")
    assert bank is not None and [c.name for c in bank.children] == ["pay", "log"]
    assert index.function(app, "Bank") is None  # not in app's package
    assert index.function(app, "lib.") is None


def test_positions_count_utf16_units_for_the_client() -> None:
    line = "/* \N{GRINNING FACE} */ message Money {}"
    column = line.index("Money") + 1  # in characters, as the parser counts
    span = Span("f", 1, column, 1, column + 5)
    codec = PositionCodec()
    found = to_range(span, [line], codec)
    assert found.start == types.Position(0, column)  # one more: the emoji is two units
    assert found.end == types.Position(0, column + 5)
    assert from_position(found.start, [line], codec) == (1, column)
    # A diagnostic just past the end of its line (a missing `;`) stays past it.
    assert to_range(Span("f", 1, 3, 1, 4), ["ab"], codec).start == types.Position(0, 2)
