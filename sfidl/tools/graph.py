"""`sfidl graph`: the application as a picture, built from the checked model only.

Nodes are the root file's functions (with their states; exclusive ones marked), the
functions of imported files they call or send to, and the ingresses and egresses. Edges
say who may do what, as declared: an ingress feeds a handler; a member calls an rpc (with
its continuation and timeout; a join gives one edge per target), sends to a one-way
handler, emits to an egress, sets a timer of its function, completes a deferred reply of
its function. Edges that differ only in the member declaring them are drawn once, naming
every such member. :mod:`sfidl.tools.graph_render` writes the graph as Mermaid or DOT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from sfidl.model import (
    Call,
    Egress,
    ExpireMode,
    Function,
    Ingress,
    IoKind,
    Program,
    State,
    TypeKind,
)


class NodeKind(Enum):
    FUNCTION = "function"
    EXCLUSIVE = "exclusive"  # an exclusive function
    IMPORTED = "imported"  # a function of an imported file, called or sent to
    INGRESS = "ingress"
    EGRESS = "egress"


class EdgeKind(Enum):
    FEEDS = "feeds"  # ingress -> function
    CALLS = "calls"
    SENDS = "sends"
    EMITS = "emits"
    SETS = "sets"  # a timer of the same function
    COMPLETES = "completes"  # a deferred reply of the same function


@dataclass(frozen=True)
class Node:
    id: str  # safe in Mermaid and DOT: letters, digits and `_`
    kind: NodeKind
    title: str
    details: tuple[str, ...] = ()  # one line each


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: EdgeKind
    label: str


@dataclass(frozen=True)
class Graph:
    name: str  # the namespace
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def build_graph(program: Program) -> Graph:
    """The graph of a checked program (its root file's functions, ingresses and egresses)."""
    ids = _Ids(program.namespace)
    nodes: dict[str, Node] = {}
    for declared in program.functions:
        node = _function_node(ids.function(declared.typename), declared)
        nodes[node.id] = node
    for ingress in program.ingresses:
        node = _ingress_node(ids.io("in", ingress.name), ingress)
        nodes[node.id] = node
    for egress in program.egresses:
        node = _egress_node(ids.io("eg", egress.name), egress)
        nodes[node.id] = node

    def called(name: str, typename: str) -> str:
        """The node of a called function, added when it is an imported file's."""
        node_id = ids.function(typename)
        nodes.setdefault(node_id, Node(node_id, NodeKind.IMPORTED, name, (typename,)))
        return node_id

    edges: list[tuple[str, str, EdgeKind, str, str]] = []  # ... and the declaring member
    for ingress in program.ingresses:
        target = ingress.target
        feeds = (ids.io("in", ingress.name), ids.function(target.function_typename))
        edges.append((*feeds, EdgeKind.FEEDS, target.handler, ""))
    for declaring in program.functions:
        source = ids.function(declaring.typename)
        for member in declaring.members:
            for call in member.calls:
                for rpc in call.targets:
                    target_id = called(rpc.function, rpc.function_typename)
                    label = _call_label(rpc.handler, call)
                    edges.append((source, target_id, EdgeKind.CALLS, label, member.name))
            for send in member.sends:
                target_id = called(send.function, send.function_typename)
                label = f"sends {send.handler}"
                edges.append((source, target_id, EdgeKind.SENDS, label, member.name))
            for egress_name in member.emits:
                emitted = ids.io("eg", egress_name)
                edges.append((source, emitted, EdgeKind.EMITS, "emits", member.name))
            for timer in member.sets:
                edges.append((source, source, EdgeKind.SETS, f"sets {timer}", member.name))
            for rpc_name in member.completes:
                label = f"completes {rpc_name}"
                edges.append((source, source, EdgeKind.COMPLETES, label, member.name))
    return Graph(program.namespace, tuple(nodes.values()), _merged(edges))


class _Ids:
    """Node ids: ``fn_user_cart`` for a function of the root's namespace, ``fn_`` and the
    whole typename for another's, ``in_``/``eg_`` and the name for ingresses and egresses;
    a counter makes an id unique if two of them would meet. No id starts with `o` or `x`,
    which Mermaid would read as an edge's circle or cross end."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.ids: dict[tuple[str, str], str] = {}

    def function(self, typename: str) -> str:
        local = typename.removeprefix(self.namespace + "/")
        return self._id("fn", local)

    def io(self, prefix: str, name: str) -> str:
        return self._id(prefix, name)

    def _id(self, prefix: str, name: str) -> str:
        key = (prefix, name)
        if key not in self.ids:
            wanted = f"{prefix}_" + re.sub(r"\W", "_", name, flags=re.ASCII)
            taken = set(self.ids.values())
            unique = wanted
            count = 1
            while unique in taken:
                count += 1
                unique = f"{wanted}_{count}"
            self.ids[key] = unique
        return self.ids[key]


def _merged(edges: list[tuple[str, str, EdgeKind, str, str]]) -> tuple[Edge, ...]:
    """One edge per (source, target, kind, label), naming every member that declares it."""
    members: dict[tuple[str, str, EdgeKind, str], list[str]] = {}
    for source, target, kind, label, member in edges:
        names = members.setdefault((source, target, kind, label), [])
        if member and member not in names:
            names.append(member)
    return tuple(
        Edge(source, target, kind, f"{', '.join(names)} {label}" if names else label)
        for (source, target, kind, label), names in members.items()
    )


def _call_label(handler: str, call: Call) -> str:
    notes = [n for n in ("join" if call.is_join else "", _timeout(call.timeout_millis)) if n]
    suffix = f" ({', '.join(notes)})" if notes else ""
    return f"calls {handler} → {call.continuation}{suffix}"


def _timeout(millis: int | None) -> str:
    return "" if millis is None else f"timeout {duration_text(millis)}"


def duration_text(millis: int) -> str:
    """``5s``, ``10min``, ``1h``, ``30d``, ``250ms``: the largest unit that is exact."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if millis % size == 0:
            return f"{millis // size}{unit}"
    return f"{millis}ms"


def _function_node(node_id: str, function: Function) -> Node:
    kind = NodeKind.EXCLUSIVE if function.exclusive else NodeKind.FUNCTION
    title = f"{function.name} (exclusive)" if function.exclusive else function.name
    return Node(node_id, kind, title, tuple(map(_state_line, function.states)))


def _state_line(state: State) -> str:
    type_name = state.type.local_name if state.type.kind is not TypeKind.SCALAR else state.type.name
    line = f"{state.name}: {type_name}"
    if state.default is not None:
        line += f" = {_literal(state.default)}"
    if state.expiry is not None:
        mode = "write" if state.expiry.mode is ExpireMode.AFTER_WRITE else "call"
        line += f", expire after {mode} {duration_text(state.expiry.millis)}"
    return line


def _literal(value: int | float | bool | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


_CHANNELS = {IoKind.KAFKA: "kafka topic", IoKind.KINESIS: "kinesis stream"}


def _ingress_node(node_id: str, ingress: Ingress) -> Node:
    channel = _CHANNELS[ingress.kind]
    return Node(node_id, NodeKind.INGRESS, ingress.name, (f"{channel} {ingress.source}",))


def _egress_node(node_id: str, egress: Egress) -> Node:
    channel = _CHANNELS[egress.kind]
    details = [f"{channel} {egress.sink}"]
    if egress.is_dead_letter:
        details.append("dead letters")
    return Node(node_id, NodeKind.EGRESS, egress.name, tuple(details))
