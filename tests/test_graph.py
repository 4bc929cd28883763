"""`sfidl graph`: the application as Mermaid, DOT and SVG, from the checked model.

The examples' pictures are golden cases (``tests/cases/example_*/graph.mmd`` and ``.dot``); a
program using every construct checks each kind of node and edge; the command's outputs and errors.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given

from sfidl.cli import main
from sfidl.frontend import load_program
from sfidl.tools.graph import Edge, EdgeKind, Graph, NodeKind, build_graph
from sfidl.tools.graph_render import to_dot, to_mermaid
from tests.test_compile_fuzz import _folder, _program, _settings

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "examples" / "shop" / "shop.sfidl"
SHOP_CASE = ROOT / "tests" / "cases" / "example_shop"  # the shop's pictures

COMMON = """\
namespace common;
message Entry { string text = 1; }
message Ok {}
function Audit {
  on record(Entry);
  rpc check(Entry) returns Ok;
}
"""

MAIN = """\
namespace app;
import "common.sfidl";

message Job { string id = 1; }
message Done {}
message Tick {}

/// Answers from the continuation of its own call: a deferred reply.
exclusive function Worker {
  state label: string = "a \\"quoted\\" <b>#1</b> & more";
  state runs: int64 expire after call 2d;
  rpc work(Job) returns Done
      calls (common.Audit.check, Checker.verify) -> checked timeout 1500ms
      completes work;
  on poke(Tick) sets tick;
  timer tick(Tick) sends common.Audit.record emits out completes work;
}

function Checker {
  rpc verify(Job) returns Done;
}

ingress jobs: kinesis stream "jobs" of Tick -> Worker.poke;
egress out: kafka topic "out" of Done;
egress dead: kinesis stream "dead" for dead letters;
"""


@pytest.fixture(scope="module")
def program_graph(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    folder = tmp_path_factory.mktemp("graph")
    (folder / "common.sfidl").write_text(COMMON)
    (folder / "main.sfidl").write_text(MAIN)
    return build_graph(load_program(folder / "main.sfidl").program)


def test_the_readme_shows_the_shops_picture() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shop = (SHOP_CASE / "graph.mmd").read_text(encoding="utf-8")
    assert f"```mermaid\n{shop}```" in readme


def test_nodes_are_functions_with_states_imported_targets_ingresses_and_egresses(
    program_graph: Graph,
) -> None:
    nodes = {n.id: (n.kind, n.title, n.details) for n in program_graph.nodes}
    assert nodes == {
        "fn_worker": (
            NodeKind.EXCLUSIVE,
            "Worker (exclusive)",
            (
                'label: string = "a \\"quoted\\" <b>#1</b> & more"',
                "runs: int64, expire after call 2d",
            ),
        ),
        "fn_checker": (NodeKind.FUNCTION, "Checker", ()),
        "fn_common_audit": (NodeKind.IMPORTED, "Audit", ("common/audit",)),
        "in_jobs": (NodeKind.INGRESS, "jobs", ("kinesis stream jobs",)),
        "eg_out": (NodeKind.EGRESS, "out", ("kafka topic out",)),
        "eg_dead": (NodeKind.EGRESS, "dead", ("kinesis stream dead", "dead letters")),
    }


def test_edges_for_every_effect_once_per_label_naming_the_members(program_graph: Graph) -> None:
    assert set(program_graph.edges) == {
        Edge("in_jobs", "fn_worker", EdgeKind.FEEDS, "poke"),
        Edge(
            "fn_worker",
            "fn_common_audit",
            EdgeKind.CALLS,
            "work calls check → checked (join, timeout 1500ms)",
        ),
        Edge(
            "fn_worker",
            "fn_checker",
            EdgeKind.CALLS,
            "work calls verify → checked (join, timeout 1500ms)",
        ),
        Edge("fn_worker", "fn_worker", EdgeKind.COMPLETES, "work, tick completes work"),
        Edge("fn_worker", "fn_worker", EdgeKind.SETS, "poke sets tick"),
        Edge("fn_worker", "fn_common_audit", EdgeKind.SENDS, "tick sends record"),
        Edge("fn_worker", "eg_out", EdgeKind.EMITS, "tick emits"),
    }
    ids = {n.id for n in program_graph.nodes}
    assert all(e.source in ids and e.target in ids for e in program_graph.edges)


def test_mermaid_escapes_what_it_would_read_as_markup(program_graph: Graph) -> None:
    mermaid = to_mermaid(program_graph)
    assert (
        '  fn_worker[["Worker (exclusive)<br/>label: string = '
        "#34;a \\#34;quoted\\#34; #60;b#62;#35;1#60;/b#62; #38; more#34;<br/>"
        'runs: int64, expire after call 2d"]]\n'
    ) in mermaid
    assert '  fn_worker -.->|"poke sets tick"| fn_worker\n' in mermaid
    assert "  class fn_worker exclusive\n" in mermaid
    assert "  class fn_common_audit imported\n" in mermaid


def test_dot_escapes_quotes_and_backslashes(program_graph: Graph) -> None:
    dot = to_dot(program_graph)
    assert 'label="Worker (exclusive)\\nlabel: string = \\"a \\\\\\"quoted' in dot
    assert dot.startswith('digraph "app" {\n') and dot.endswith("}\n")


# ---------------------------------------------------------------- the command


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["graph", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_graph_prints_mermaid_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, SHOP)
    assert (code, err) == (0, "")
    assert out == (SHOP_CASE / "graph.mmd").read_text(encoding="utf-8")


@pytest.mark.parametrize(("suffix", "golden"), [(".mmd", "graph.mmd"), (".dot", "graph.dot")])
def test_graph_writes_the_format_its_output_names(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, suffix: str, golden: str
) -> None:
    out = tmp_path / f"shop{suffix}"
    code, stdout, err = _run(capsys, SHOP, "-o", out)
    assert (code, stdout, err) == (0, "", f"sfidl: wrote {out}\n")
    assert out.read_bytes() == (SHOP_CASE / golden).read_bytes()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graph_writes_svg_with_graphviz(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "shop.svg"
    code, _, err = _run(capsys, SHOP, "-o", out)
    assert code == 0, err
    svg = out.read_text(encoding="utf-8")
    assert "<svg" in svg and "UserCart (exclusive)" in svg and "add calls reserve" in svg


def test_graph_svg_without_graphviz_says_what_to_install(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no `dot` on it
    code, _, err = _run(capsys, SHOP, "-o", tmp_path / "shop.svg")
    assert code == 2
    assert "writing SVG needs the `dot` program of Graphviz (https://graphviz.org/download/)" in err
    assert not (tmp_path / "shop.svg").exists()


def test_graph_refuses_an_output_name_it_has_no_format_for(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = _run(capsys, SHOP, "-o", tmp_path / "shop.png")
    assert code == 2
    assert "the name must end in .mmd, .dot or .svg" in err
    assert list(tmp_path.iterdir()) == []


def test_graph_of_a_file_with_errors_reports_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.sfidl"
    bad.write_text("namespace a;\nfunction F { on h(Missing); }\n")
    code, out, err = _run(capsys, bad, "-o", tmp_path / "bad.mmd")
    assert (code, out) == (1, "")
    assert f"{bad}:2:19: error[unknown-type]: unknown type `Missing`" in err
    assert not (tmp_path / "bad.mmd").exists()


@_settings(15)
@given(_program())
def test_every_valid_program_draws(text: str) -> None:
    """The property tests' programs (odd names, joins, every effect): every edge joins two
    nodes, ids are unique, and Graphviz (when installed) reads the DOT."""
    with _folder() as folder:
        path = folder / "main.sfidl"
        path.write_text(text, encoding="utf-8")
        graph = build_graph(load_program(path).program)
    ids = [n.id for n in graph.nodes]
    assert len(ids) == len(set(ids))
    assert all(e.source in ids and e.target in ids for e in graph.edges)
    assert all(re.fullmatch(r"(fn|in|eg)_\w+", i, re.ASCII) for i in ids)
    mermaid = to_mermaid(graph)
    assert mermaid.count("\n") == 1 + len(graph.nodes) + len(graph.edges) + 2 * sum(
        1
        for kind in (NodeKind.EXCLUSIVE, NodeKind.IMPORTED)
        if any(n.kind is kind for n in graph.nodes)
    )
    dot = shutil.which("dot")
    if dot is not None:
        laid_out = subprocess.run(
            [dot, "-Tsvg"], input=to_dot(graph), capture_output=True, text=True, timeout=60
        )
        assert laid_out.returncode == 0, laid_out.stderr
