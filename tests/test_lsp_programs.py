"""sfidl.lsp.programs: what the server shows for the open documents, without the protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfidl.compiler import compile_file
from sfidl.diagnostics import CompileError, Severity
from sfidl.lsp.programs import Programs

LIB = "namespace lib;\nmessage Money { Cents cents = 1; }\n"
INGRESS = 'ingress i: kafka topic "t" -> F.a;\n'
APP = """\
namespace app;
import "lib.sfidl";
message Order { lib.Money total = 1; }
function Shop { on order(Order); }
"""


def test_an_import_s_errors_show_in_it_and_go_when_nothing_reaches_it(tmp_path: Path) -> None:
    (tmp_path / "lib.sfidl").write_text(LIB)  # not open: read from the disk
    app, lib = (tmp_path / "app.sfidl").resolve(), (tmp_path / "lib.sfidl").resolve()
    programs = Programs()
    programs.set_text(app, APP)
    shown = programs.refresh()
    assert [(d.severity, d.message) for d in shown[lib].diagnostics] == [
        (Severity.ERROR, "unknown type `Cents`")
    ]
    # The root has functions and no ingress: its warning comes with the import's error.
    assert [(d.severity, d.span.line) for d in shown[app].diagnostics] == [(Severity.WARNING, 4)]
    assert shown[lib].text == LIB

    programs.set_text(app, "namespace app;\nmessage M {}\nfunction F { on a(M); }\n" + INGRESS)
    shown = programs.refresh()
    assert shown[lib].diagnostics == () and shown[app].diagnostics == ()
    assert programs.refresh() == {}  # nothing left to clear


def test_while_the_root_does_not_parse_its_index_is_kept_and_warnings_dropped(
    tmp_path: Path,
) -> None:
    (tmp_path / "lib.sfidl").write_text(LIB.replace("Cents", "int64"))
    app = (tmp_path / "app.sfidl").resolve()
    programs = Programs()
    programs.set_text(app, APP)
    programs.refresh()
    before = programs.snapshot(app)
    assert before is not None and before.index is not None
    programs.set_text(app, APP.replace("on order(Order);", "on order(Ord"))
    shown = programs.refresh()
    # Only the parse error: the "no ingress" warning was about the program as a whole.
    assert [(d.severity, d.message) for d in shown[app].diagnostics] == [
        (Severity.ERROR, "expected `)`, found `}`")
    ]
    after = programs.snapshot(app)
    assert after is not None and after.index is before.index
    assert after.analysis is not before.analysis


def test_a_clash_of_generated_python_names_is_shown_as_compile_reports_it(tmp_path: Path) -> None:
    # The checker holds the rule: the editor shows it without generating anything.
    text = "namespace c;\nmessage M {}\nfunction Playground { on take(M); }\n"
    text += 'ingress i: kafka topic "t" -> Playground.take;\n'
    root = tmp_path / "c.sfidl"
    root.write_text(text)
    with pytest.raises(CompileError) as compiled:
        compile_file(root.resolve())
    assert [d.code for d in compiled.value.diagnostics] == ["name-clash"]
    programs = Programs()
    programs.set_text(root.resolve(), text)
    assert programs.refresh()[root.resolve()].diagnostics == compiled.value.diagnostics
    programs.set_text(root.resolve(), text.replace("Playground", "Shop"))
    assert programs.refresh()[root.resolve()].diagnostics == ()
