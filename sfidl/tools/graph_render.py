"""The graph of :mod:`sfidl.tools.graph` as Mermaid (renders on GitHub) and Graphviz DOT.

Shapes: a function is a box, an exclusive one a double-bordered box, an imported function
a dashed box, an ingress a flag, an egress a parallelogram. Lines: calls bold, sends and
emits plain, ingresses plain, timers (``sets``) dashed, deferred completions dotted.
SVG is DOT laid out by the ``dot`` program of Graphviz, when it is installed.
"""

from __future__ import annotations

import shutil
import subprocess

from sfidl.tools.graph import EdgeKind, Graph, Node, NodeKind

DOT_TIMEOUT_SECONDS = 120


class DotMissing(Exception):
    """The ``dot`` program is not installed (SVG needs it)."""


class DotFailed(Exception):
    """``dot`` ran and failed; the message is what it said."""


# ---------------------------------------------------------------- Mermaid

_MERMAID_SHAPES = {
    NodeKind.FUNCTION: ('["', '"]'),
    NodeKind.EXCLUSIVE: ('[["', '"]]'),
    NodeKind.IMPORTED: ('["', '"]'),
    NodeKind.INGRESS: ('>"', '"]'),
    NodeKind.EGRESS: ('[/"', '"/]'),
}
_MERMAID_ARROWS = {
    EdgeKind.FEEDS: "-->",
    EdgeKind.CALLS: "==>",
    EdgeKind.SENDS: "-->",
    EdgeKind.EMITS: "-->",
    EdgeKind.SETS: "-.->",
    EdgeKind.COMPLETES: "-.->",
}
# Mermaid reads `#...;` as an entity and `<...>` as markup: text is escaped by code point.
_MERMAID_ESCAPES = {c: f"#{ord(c)};" for c in '#"<>&'}


def _mermaid_text(text: str) -> str:
    return "".join(_MERMAID_ESCAPES.get(c, c) for c in text)


def _mermaid_label(node: Node) -> str:
    return "<br/>".join(_mermaid_text(line) for line in (node.title, *node.details))


def to_mermaid(graph: Graph) -> str:
    """A Mermaid flowchart, left to right."""
    lines = ["flowchart LR"]
    for node in graph.nodes:
        opening, closing = _MERMAID_SHAPES[node.kind]
        lines.append(f"  {node.id}{opening}{_mermaid_label(node)}{closing}")
    for edge in graph.edges:
        arrow = _MERMAID_ARROWS[edge.kind]
        lines.append(f'  {edge.source} {arrow}|"{_mermaid_text(edge.label)}"| {edge.target}')
    for kind, style in (
        (NodeKind.EXCLUSIVE, "stroke-width:3px"),
        (NodeKind.IMPORTED, "stroke-dasharray:4 4"),
    ):
        ids = [n.id for n in graph.nodes if n.kind is kind]
        if ids:
            lines.append(f"  classDef {kind.value} {style}")
            lines.append(f"  class {','.join(ids)} {kind.value}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- DOT

_DOT_NODES = {
    NodeKind.FUNCTION: 'shape=box, style="rounded"',
    NodeKind.EXCLUSIVE: 'shape=box, style="rounded,bold", peripheries=2',
    NodeKind.IMPORTED: 'shape=box, style="rounded,dashed"',
    NodeKind.INGRESS: "shape=cds",
    NodeKind.EGRESS: "shape=parallelogram",
}
_DOT_EDGES = {
    EdgeKind.FEEDS: "",
    EdgeKind.CALLS: "style=bold, ",
    EdgeKind.SENDS: "",
    EdgeKind.EMITS: "",
    EdgeKind.SETS: "style=dashed, ",
    EdgeKind.COMPLETES: "style=dotted, ",
}


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: Graph) -> str:
    """A Graphviz digraph, left to right."""
    lines = [
        f"digraph {_dot_string(graph.name)} {{",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for node in graph.nodes:
        label = _dot_string("\n".join((node.title, *node.details)))
        lines.append(f"  {node.id} [{_DOT_NODES[node.kind]}, label={label}];")
    for edge in graph.edges:
        style = _DOT_EDGES[edge.kind]
        lines.append(f"  {edge.source} -> {edge.target} [{style}label={_dot_string(edge.label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(dot: str) -> bytes:
    """``dot`` laid out as SVG by Graphviz; :class:`DotMissing` when it is not installed."""
    program = shutil.which("dot")
    if program is None:
        raise DotMissing()
    try:
        result = subprocess.run(
            [program, "-Tsvg"],
            input=dot.encode("utf-8"),
            capture_output=True,
            timeout=DOT_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise DotFailed(f"dot did not finish in {DOT_TIMEOUT_SECONDS} s") from None
    if result.returncode != 0:
        raise DotFailed(result.stderr.decode("utf-8", "replace").strip())
    return result.stdout
