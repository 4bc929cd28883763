"""Calls that wait on each other: deadlocks of exclusive instances, and timeout chains.

Both checks read the declared call graph of every function of the program (the root
file's and the imported files'), after the functions are checked.

What waits for what
-------------------

The graph has two kinds of nodes:

- ``Answer(F.k)``: the reply of rpc ``k`` of ``F`` reaching its caller;
- ``Idle(F)``, for an exclusive ``F`` only: an instance of ``F`` with no call and no
  deferred reply pending, so that it handles (or releases) the messages it holds.

An edge ``u -> v`` means "u may have to wait for v":

- ``Idle(F) -> Answer(X.y)`` for every call a member of ``F`` declares (joins: every
  target; a continuation makes only calls some member declared, so members cover them).
  While the call is pending the instance is not idle.
- ``Answer(F.k) -> Idle(F)`` when ``F`` is exclusive and the handler ``k`` declares no
  ``completes``: the request is held while the instance is busy (the runtime never holds
  a member whose ``completes`` is non-empty, nor replies, timeouts or timers).
- ``Answer(F.k) -> Answer(X.y)`` when ``k`` may defer (some member of ``F`` declares
  ``completes k``) and a completer of ``k`` calls ``X.y``: the reply may come from the
  continuation of that call, so after its outcome. The completers are the members that
  declare ``completes k`` and the continuations that inherit it (a continuation may do
  what the members naming it declared, :meth:`model.Function.continuation_effects`);
  a completer's calls include those it inherits that way.

A non-deferring rpc has no edge of the last kind: its handler answers when it returns,
whatever calls it starts, and the reply does not wait for their outcomes. So an exclusive
``A`` calling a plain ``B.k`` whose handler calls ``A.h`` does not deadlock: ``A`` holds
``h`` only until ``B.k``'s reply arrives, which needs nothing from ``A``.

Unless ``B`` is exclusive too: then ``B.k`` itself may be held while ``B`` waits for an
``A.h`` that ``A`` holds while it waits for ``B.k`` — two instances taking each other's
lock in opposite orders. The ``Answer(F.k) -> Idle(F)`` edge makes that a cycle, so it is
reported even though neither rpc defers.

A cycle is only possible through ``Idle`` nodes or deferring rpcs; a cycle with no
``Idle`` node (rpcs deferring on each other's calls, no exclusive function) is an unbounded
recursion of calls, not a deadlock, and is not reported. Every cycle through some
``Idle(A)`` is a possible deadlock: each ``Idle(A)`` on it stands for an instance holding
the message the previous step waits for. Instances are not told apart: the same instance
(a self-call ``A -> A``) or another one may be addressed, since ids are run-time values.

The check finds the strongly connected components (Tarjan, iterative, linear), then for
each exclusive ``A`` on a cycle one breadth-first search backwards from ``Idle(A)`` inside
its component gives every node a shortest way back to ``Idle(A)``. Each call of ``A``
whose target has such a way starts a cycle; a cycle already reported (the same nodes in
the same rotation, found from another call or another exclusive function) is not
reported again. So the work is linear in the graph per exclusive function on a cycle,
with at most one error per call declaration, never an enumeration of paths.

The check is an over-approximation in two ways, both on purpose: it assumes any two
instances may coincide, and that a deferring rpc may wait on every call of its completers.
It does not follow ``sends`` and ingress records that feed a completer (a message to a
completer is never held, and who sends it is not declared as a wait), and timeouts do not
make a cycle acceptable: a call that times out only turns the deadlock into a stall.

Timeout chains
--------------

A caller that declared ``timeout T`` on a call to ``B.k`` wants ``B.k``'s answer, even a
failure, within ``T``. When ``B.k`` defers, its answer may wait for a call of one of its
completers; ``B`` gets that call's outcome at the latest when its own timeout ``U``
expires, counted from when ``B`` made the call, which is after the caller made its own.
So a warning is given when ``U >= T`` (the caller gives up first even when the two are
equal), or when such a call has no timeout (it may never end). Only deferred waits count:
a plain rpc answers when its handler returns. Holds are not counted either, they are not
a chain the callee declares. Timeouts given at the call site in Python are not known here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sfidl import model
from sfidl.check import rules
from sfidl.check.report import Reporter
from sfidl.model import HandlerKind

Member = model.Handler | model.Timer


@dataclass(frozen=True)
class Answer:
    """The reply of rpc ``handler`` of the function with typename ``function``."""

    function: str
    handler: str


@dataclass(frozen=True)
class Idle:
    """An instance of the exclusive function with typename ``function``, nothing pending."""

    function: str


Node = Answer | Idle


@dataclass(frozen=True)
class Wait:
    """A call the deferred answer of an rpc may wait for."""

    via: str  # the method that may answer after the call's outcome, for messages
    owner: str  # the member that declares the call
    call: model.Call


@dataclass(frozen=True)
class Calls:
    """``Idle(F) -> Answer(t)``: ``F.member`` calls ``t``."""

    member: str


@dataclass(frozen=True)
class Defers:
    """``Answer(F.k) -> Answer(t)``: ``F`` may answer ``k`` in ``wait.via`` after ``t``'s outcome."""

    wait: Wait


@dataclass(frozen=True)
class Held:
    """``Answer(F.k) -> Idle(F)``: exclusive ``F`` holds a request for ``k`` while busy."""


Reason = Calls | Defers | Held


def check_call_graph(report: Reporter, functions: Iterable[model.Function]) -> None:
    """Report deadlock cycles through exclusive functions and too-short timeouts."""
    graph = CallGraph(functions)
    graph.report_deadlocks(report)
    graph.report_timeout_chains(report)


def answer(target: model.RpcRef) -> Answer:
    return Answer(target.function_typename, target.handler)


class CallGraph:
    """The wait-for graph of the module docstring."""

    def __init__(self, functions: Iterable[model.Function]) -> None:
        self.functions: dict[str, model.Function] = {}
        for function in functions:
            # A duplicate function was reported; the first one stands for the name.
            self.functions.setdefault(function.typename, function)
        # Successors in insertion order, one reason per pair of nodes (the first found).
        self.edges: dict[Node, dict[Node, Reason]] = {}
        # For each rpc that may defer: the calls its answer may wait for.
        self.waits: dict[Answer, list[Wait]] = {}
        for function in self.functions.values():
            self._add(function)

    # -- building

    def _edge(self, source: Node, target: Node, reason: Reason) -> None:
        self.edges.setdefault(source, {}).setdefault(target, reason)
        self.edges.setdefault(target, {})

    def _add(self, function: model.Function) -> None:
        idle = Idle(function.typename)
        if function.exclusive:
            for member in function.members:
                for call in member.calls:
                    for target in call.targets:
                        self._edge(idle, answer(target), Calls(member.name))
        waits = deferred_waits(function)
        for handler in function.handlers:
            if handler.kind is not HandlerKind.RPC:
                continue
            node = Answer(function.typename, handler.name)
            self.edges.setdefault(node, {})
            if function.exclusive and not handler.completes:
                self._edge(node, idle, Held())
            if handler.name in waits:
                self.waits[node] = waits[handler.name]
                for wait in waits[handler.name]:
                    for target in wait.call.targets:
                        self._edge(node, answer(target), Defers(wait))

    # -- names for messages

    def _function_name(self, typename: str) -> str:
        function = self.functions.get(typename)
        return function.name if function is not None else typename

    def _rpc(self, node: Answer) -> str:
        return f"{self._function_name(node.function)}.{node.handler}"

    # -- deadlocks

    def report_deadlocks(self, report: Reporter) -> None:
        components = strongly_connected(self.edges)
        predecessors: dict[Node, list[Node]] = {node: [] for node in self.edges}
        for source, successors in self.edges.items():
            for successor in successors:
                predecessors[successor].append(source)
        sizes: dict[int, int] = {}
        for component in components.values():
            sizes[component] = sizes.get(component, 0) + 1
        reported: set[tuple[Node, ...]] = set()
        for function in self.functions.values():
            idle = Idle(function.typename)
            # An Idle node has no edge to itself, so only a component of two or more
            # nodes holds a cycle through it.
            if not function.exclusive or sizes.get(components.get(idle, -1), 0) < 2:
                continue
            toward = self._ways_back(idle, components, predecessors)
            for member in function.members:
                for call in member.calls:
                    for target in call.targets:
                        start = answer(target)
                        if start not in toward:
                            continue
                        cycle = self._cycle(idle, start, toward)
                        key = _rotated(cycle)
                        if key in reported:
                            continue
                        reported.add(key)
                        self._report_cycle(report, function, member, call, start, toward)

    def _ways_back(
        self,
        idle: Idle,
        components: dict[Node, int],
        predecessors: dict[Node, list[Node]],
    ) -> dict[Node, Node]:
        """For each node of ``idle``'s component that reaches it: the next node on a shortest way."""
        component = components[idle]
        toward: dict[Node, Node] = {}
        queue: deque[Node] = deque([idle])
        while queue:
            node = queue.popleft()
            for source in predecessors[node]:
                if source != idle and source not in toward and components[source] == component:
                    toward[source] = node
                    queue.append(source)
        return toward

    def _cycle(self, idle: Idle, start: Node, toward: dict[Node, Node]) -> list[Node]:
        """``idle``, ``start`` and the nodes after it up to (not including) ``idle`` again."""
        cycle: list[Node] = [idle]
        node = start
        while node != idle:
            cycle.append(node)
            node = toward[node]
        return cycle

    def _report_cycle(
        self,
        report: Reporter,
        function: model.Function,
        member: Member,
        call: model.Call,
        start: Answer,
        toward: dict[Node, Node],
    ) -> None:
        idle = Idle(function.typename)
        name = function.name
        steps = [f"{name}.{member.name}", self._rpc(start)]
        node: Node = start
        held = ""
        while True:
            assert isinstance(node, Answer)  # Idle nodes are stepped over below
            after = toward[node]
            reason = self.edges[node][after]
            if isinstance(reason, Defers):
                assert isinstance(after, Answer)
                owner = self._function_name(node.function)
                steps.append(
                    f"({owner} answers it in `{reason.wait.via}`, after) {self._rpc(after)}"
                )
                node = after
            elif after == idle:
                held = node.handler
                break
            else:
                # Held by another exclusive function, busy with a call of its own.
                assert isinstance(after, Idle)
                then = toward[after]
                calls = self.edges[after][then]
                assert isinstance(calls, Calls) and isinstance(then, Answer)
                other = self._function_name(after.function)
                steps.append(
                    f"(exclusive {other} holds it while {other}.{calls.member} waits for) "
                    f"{self._rpc(then)}"
                )
                node = then
        report.error(
            call.span,
            f"calls to `{self._rpc(start)}` could deadlock exclusive `{name}`: "
            f"{' -> '.join(steps)}; {name} holds `{held}` while {name}.{member.name}'s call "
            "is pending",
            hint=f"break the cycle, drop `exclusive` from `{name}`, or make `{held}` a "
            f"completion handler (one that declares `completes`), which `{name}` never holds",
            code=rules.DEADLOCK,
        )

    # -- timeout chains

    def report_timeout_chains(self, report: Reporter) -> None:
        for function in self.functions.values():
            for member in function.members:
                for call in member.calls:
                    if call.timeout_millis is None:
                        continue  # the caller waits as long as it takes
                    for target in call.targets:
                        waits = self.waits.get(answer(target))
                        if waits:
                            self._check_chain(report, function, member, call, target, waits)

    def _check_chain(
        self,
        report: Reporter,
        function: model.Function,
        member: Member,
        call: model.Call,
        target: model.RpcRef,
        waits: Sequence[Wait],
    ) -> None:
        assert call.timeout_millis is not None
        mine = duration(call.timeout_millis)
        rpc = f"{target.function}.{target.handler}"
        unbounded = next((w for w in waits if w.call.timeout_millis is None), None)
        if unbounded is not None:
            report.warning(
                call.span,
                f"timeout {mine} on `{rpc}` may expire before `{rpc}` answers: "
                f"{_chain(function, member, rpc, target.function, unbounded)}, no timeout",
                hint=f"`{target.function}.{unbounded.owner}` calls {_targets(unbounded.call)} "
                f"without a timeout: declare one shorter than {mine} there",
                code=rules.TIMEOUT_UNBOUNDED,
            )
            return
        longest = max(waits, key=lambda w: w.call.timeout_millis or 0)
        assert longest.call.timeout_millis is not None
        if longest.call.timeout_millis < call.timeout_millis:
            return
        theirs = duration(longest.call.timeout_millis)
        report.warning(
            call.span,
            f"timeout {mine} on `{rpc}` is not longer than the {theirs} `{rpc}` may wait "
            f"before it answers: {_chain(function, member, rpc, target.function, longest)}, "
            f"timeout {theirs}",
            hint=f"`{function.name}.{member.name}` times out first, so what `{rpc}` answers "
            f"once its own call times out comes too late: wait longer than {theirs} here, or "
            f"give the call to {_targets(longest.call)} in `{target.function}.{longest.owner}` "
            f"less than {mine}",
            code=rules.TIMEOUT_TOO_SHORT,
        )


def deferred_waits(function: model.Function) -> dict[str, list[Wait]]:
    """For each rpc of ``function`` that may defer: the calls its answer may wait for.

    Those are the calls of its completers: the members declaring ``completes k``, and the
    continuations whose effects include it (the effects of the members naming them, as
    :meth:`model.Function.continuation_effects` has it). Members come first, in source
    order; each call (each continuation) once.
    """
    namers: dict[str, list[Member]] = {}  # continuation -> the members whose calls name it
    for member in function.members:
        for call in member.calls:
            named = namers.setdefault(call.continuation, [])
            if not any(m is member for m in named):
                named.append(member)
    completes = {c: {k for m in named for k in m.completes} for c, named in namers.items()}
    result: dict[str, list[Wait]] = {}
    for handler in function.handlers:
        k = handler.name
        if handler.kind is not HandlerKind.RPC or not function.defers(k):
            continue
        waits: list[Wait] = []
        seen: set[str] = set()

        def add(completer: str, owner: Member, call: model.Call) -> None:
            # A continuation stands for one call: every call naming it has the same
            # targets and timeout (checked in effects.py), so one declaration is enough.
            if call.continuation in seen:
                return
            seen.add(call.continuation)
            # The answer comes after the call's outcome from its continuation, when that
            # may complete `k`; otherwise from the completer that made the call.
            via = call.continuation if k in completes.get(call.continuation, ()) else completer
            waits.append(Wait(via, owner.name, call))

        for member in function.members:
            if k in member.completes:
                for call in member.calls:
                    add(member.name, member, call)
        for continuation, named in namers.items():
            if k in completes[continuation]:
                for owner in named:
                    for call in owner.calls:
                        add(continuation, owner, call)
        result[k] = waits
    return result


def strongly_connected(edges: dict[Node, dict[Node, Reason]]) -> dict[Node, int]:
    """Tarjan's strongly connected components, iteratively: node -> component number."""
    index: dict[Node, int] = {}
    low: dict[Node, int] = {}
    stack: list[Node] = []
    on_stack: set[Node] = set()
    component: dict[Node, int] = {}
    components = 0

    def visit(node: Node) -> Iterator[Node]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        return iter(edges.get(node, {}))

    for root in edges:
        if root in index:
            continue
        work: list[tuple[Node, Iterator[Node]]] = [(root, visit(root))]
        while work:
            node, successors = work[-1]
            descended = False
            for successor in successors:
                if successor not in index:
                    work.append((successor, visit(successor)))
                    descended = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if descended:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component[member] = components
                    if member == node:
                        break
                components += 1
    return component


def _order(node: Node) -> tuple[str, str, str]:
    if isinstance(node, Idle):
        return ("idle", node.function, "")
    return ("answer", node.function, node.handler)


def _rotated(cycle: list[Node]) -> tuple[Node, ...]:
    """The cycle starting at its least node: the same for every starting point."""
    first = min(range(len(cycle)), key=lambda i: _order(cycle[i]))
    return tuple(cycle[first:] + cycle[:first])


def _targets(call: model.Call) -> str:
    names = [f"{t.function}.{t.handler}" for t in call.targets]
    return names[0] if len(names) == 1 else f"({', '.join(names)})"


def _chain(function: model.Function, member: Member, rpc: str, callee: str, wait: Wait) -> str:
    return (
        f"{function.name}.{member.name} -> {rpc} -> "
        f"({callee} answers it in `{wait.via}`, after) {_targets(wait.call)}"
    )


_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000), ("ms", 1))


def duration(millis: int) -> str:
    """A duration as the language writes it, in the largest unit that divides it."""
    for unit, size in _UNITS:
        if millis % size == 0:
            return f"{millis // size}{unit}"
    raise AssertionError("unreachable: milliseconds divide every integer")
