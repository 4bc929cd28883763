"""The call-graph checks (sfidl/check/call_graph.py): deadlock cycles of exclusive
functions and timeout chains, beyond the golden cases in tests/cases/."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sfidl import ast, model
from sfidl.check import Unit, check
from sfidl.check.call_graph import (
    Answer,
    CallGraph,
    Held,
    Idle,
    deferred_waits,
    duration,
    strongly_connected,
)
from sfidl.cli import main
from sfidl.diagnostics import Diagnostic, Severity
from sfidl.parse import parse

HEADER = "namespace t;\nmessage Req {}\nmessage Rep {}\n"


def unit(path: str, text: str, imports: tuple[str, ...] = ()) -> Unit:
    parsed = parse(text, path)
    assert isinstance(parsed.file, ast.File), [d.message for d in parsed.diagnostics]
    return Unit(parsed.file, path.removesuffix(".sfidl") + ".proto", imports)


def diagnostics(body: str) -> list[Diagnostic]:
    """The call-graph diagnostics of a one-file program (the no-ingress warning left out)."""
    result = check([unit("main.sfidl", HEADER + body)])
    return [d for d in result.diagnostics if "ingress" not in d.message]


def errors(body: str) -> list[str]:
    return [d.message for d in diagnostics(body) if d.severity is Severity.ERROR]


def warnings(body: str) -> list[str]:
    return [d.message for d in diagnostics(body) if d.severity is Severity.WARNING]


def functions(body: str) -> dict[str, model.Function]:
    result = check([unit("main.sfidl", HEADER + body)])
    assert result.program is not None, [d.message for d in result.diagnostics]
    return {f.name: f for f in result.program.functions}


# -- what waits for what


def test_a_deferred_answer_waits_for_the_calls_of_every_completer() -> None:
    b = functions("""
        function C { rpc m(Req) returns Rep; rpc n(Req) returns Rep; rpc o(Req) returns Rep; }
        function B {
          rpc k(Req) returns Rep calls C.m -> m_done completes k;
          rpc plain(Req) returns Rep calls C.o -> o_done;
          on other(Rep) calls C.m -> m_done, C.n -> n_done;
          timer late(Req) calls C.o -> o_done completes k;
        }
        """)["B"]
    waits = deferred_waits(b)
    assert set(waits) == {"k"}  # `plain` answers when its handler returns
    # k's completers: the rpc itself, the timer, and the continuations inheriting
    # `completes k` (m_done, o_done), which inherit the calls of every member naming them.
    # Each call once (by continuation), declared by a completer where one declares it.
    found = [(w.owner, w.call.continuation, w.via) for w in waits["k"]]
    assert found == [
        ("k", "m_done", "m_done"),
        ("late", "o_done", "o_done"),
        ("other", "n_done", "m_done"),  # other names m_done too: m_done may call C.n
    ]
    # Exactly the model's rule for what a continuation may do.
    expected = {(c.continuation) for m in b.members if "k" in m.completes for c in m.calls}
    for continuation in ("m_done", "o_done", "n_done"):
        effects = b.continuation_effects(continuation)
        if "k" in effects.completes:
            expected |= {c.continuation for c in effects.calls}
    assert {w.call.continuation for w in waits["k"]} == expected


def test_the_wait_for_graph() -> None:
    fs = functions("""
        exclusive function A {
          on add(Req) calls B.k -> k_done;
          rpc hold(Req) returns Rep;
          rpc done(Req) returns Rep completes hold;
        }
        function B { rpc k(Req) returns Rep calls A.done -> d completes k; }
        """)
    graph = CallGraph(fs.values())
    a, b = fs["A"].typename, fs["B"].typename
    assert list(graph.edges[Idle(a)]) == [Answer(b, "k")]
    assert list(graph.edges[Answer(b, "k")]) == [Answer(a, "done")]
    assert list(graph.edges[Answer(a, "hold")]) == [Idle(a)]  # held: no `completes`
    assert list(graph.edges[Answer(a, "done")]) == []  # a completion handler is never held


def test_strongly_connected_components() -> None:
    x, y, z, w = (Idle(n) for n in "xyzw")
    held = Held()  # any reason will do: components only look at the nodes
    components = strongly_connected({x: {y: held}, y: {z: held, x: held}, z: {}, w: {w: held}})
    assert components[x] == components[y]
    assert len({components[x], components[z], components[w]}) == 3


# -- deadlocks: precision


def test_a_plain_rpc_between_two_exclusive_functions_can_still_deadlock() -> None:
    # Neither defers, but B.k is held while B waits for A.h, which A holds.
    assert len(errors("""
        exclusive function A { on add(Req) calls B.k -> k_done; rpc h(Req) returns Rep; }
        exclusive function B { rpc k(Req) returns Rep; on go(Req) calls A.h -> h_done; }
        """)) == 1


def test_a_plain_rpc_of_a_plain_function_answers_at_once() -> None:
    assert errors("""
        exclusive function A { on add(Req) calls B.k -> k_done; rpc h(Req) returns Rep; }
        function B { rpc k(Req) returns Rep calls A.h -> h_done; on go(Req) calls A.h -> h_done; }
        """) == []


def test_a_deferred_answer_that_needs_nothing_from_the_exclusive_function() -> None:
    assert errors("""
        exclusive function A { on add(Req) calls B.k -> k_done; rpc h(Req) returns Rep; }
        function B { rpc k(Req) returns Rep calls C.m -> m_done completes k; }
        function C { rpc m(Req) returns Rep calls A.h -> h_done; }
        """) == []


def test_deferred_answers_waiting_on_each_other_without_exclusive_are_no_deadlock() -> None:
    assert errors("""
        function B { rpc k(Req) returns Rep calls C.m -> m_done completes k; }
        function C { rpc m(Req) returns Rep calls B.k -> k_done completes m; }
        """) == []


def test_a_deferred_reply_of_the_exclusive_function_itself() -> None:
    # `start` is never held (it completes), but its call to `hold` on the same instance is.
    found = errors("""
        exclusive function A {
          rpc start(Req) returns Rep calls A.hold -> held completes start;
          rpc hold(Req) returns Rep;
        }
        """)
    assert found == [
        "calls to `A.hold` could deadlock exclusive `A`: A.start -> A.hold; "
        "A holds `hold` while A.start's call is pending"
    ]


def test_a_cycle_is_reported_once_and_distinct_cycles_each_once() -> None:
    found = errors("""
        exclusive function A {
          on add(Req) calls B.k -> k_done;
          on put(Rep) calls B.k -> k_done;          // the same cycle again
          timer take(Req) calls C.m -> m_done;      // another one
          rpc hold(Req) returns Rep;
        }
        exclusive function B { rpc k(Req) returns Rep; on go(Req) calls A.hold -> h; }
        function C { rpc m(Req) returns Rep calls A.hold -> h completes m; }
        """)
    assert [m.split(":")[0] for m in found] == [
        "calls to `B.k` could deadlock exclusive `A`",
        "calls to `C.m` could deadlock exclusive `A`",
    ]


def test_a_cycle_inside_an_imported_file_is_reported_there() -> None:
    lib = unit(
        "lib.sfidl",
        "namespace lib;\nmessage Req {}\nmessage Rep {}\n"
        "exclusive function L { on go(Req) calls L.h -> done; rpc h(Req) returns Rep; }\n",
    )
    main_ = unit(
        "main.sfidl",
        'namespace t;\nimport "lib.sfidl";\n'
        "function M { on go(lib.Req) calls lib.L.h -> done; }\n"
        'ingress gos: kafka topic "g" -> M.go;\n',
        imports=("lib.sfidl",),
    )
    result = check([lib, main_])
    assert result.program is None
    [error] = [d for d in result.diagnostics if d.severity is Severity.ERROR]
    assert error.span.file == "lib.sfidl"
    assert "could deadlock exclusive `L`" in error.message


def test_the_check_is_not_exponential_in_the_paths() -> None:
    # 40 layers of two functions, each deferring on both of the next layer: 2**40 paths
    # from A back to A, one cycle per call of A to report.
    layers = 40
    lines = ["exclusive function A { on add(Req) calls L0a.k -> k0; rpc hold(Req) returns Rep; }"]
    for i in range(layers):
        for side in "ab":
            if i + 1 < layers:
                calls = f"calls L{i + 1}a.k -> na, L{i + 1}b.k -> nb"
            else:
                calls = "calls A.hold -> back"
            lines.append(f"function L{i}{side} {{ rpc k(Req) returns Rep {calls} completes k; }}")
    started = time.perf_counter()
    found = errors("\n".join(lines))
    assert time.perf_counter() - started < 10
    assert len(found) == 1
    assert found[0].count("answers it in") == layers


# -- timeout chains


def test_no_warning_when_the_caller_waits_longer_or_the_callee_answers_at_once() -> None:
    assert warnings("""
        function C { rpc m(Req) returns Rep; }
        function B {
          rpc k(Req) returns Rep calls C.m -> m_done timeout 5s completes k;
          rpc plain(Req) returns Rep calls C.m -> m_done timeout 5s;
        }
        function A {
          on add(Req) calls B.k -> k_done timeout 6s;
          on put(Rep) calls B.plain -> p_done timeout 1s;
          on take(Req) calls B.k -> k_done2 timeout 6s;
        }
        """) == []


def test_equal_timeouts_warn_the_caller_gives_up_first() -> None:
    [found] = warnings("""
        function C { rpc m(Req) returns Rep; }
        function B { rpc k(Req) returns Rep calls C.m -> m_done timeout 5s completes k; }
        function A { on add(Req) calls B.k -> k_done timeout 5s; }
        """)
    assert found.startswith("timeout 5s on `B.k` is not longer than the 5s `B.k` may wait")
    assert found.endswith("A.add -> B.k -> (B answers it in `m_done`, after) C.m, timeout 5s")


def test_the_longest_wait_counts_and_a_join_caller_is_checked_per_target() -> None:
    found = warnings("""
        function C { rpc m(Req) returns Rep; rpc n(Req) returns Rep; }
        function B {
          rpc k(Req) returns Rep calls C.m -> m_done timeout 1s completes k;
          on result(Rep) calls C.n -> n_done timeout 3min completes k;
        }
        function D { rpc j(Req) returns Rep; }
        function A { on add(Req) calls (D.j, B.k) -> both timeout 2min; }
        """)
    assert found == [
        "timeout 2min on `B.k` is not longer than the 3min `B.k` may wait before it answers: "
        "A.add -> B.k -> (B answers it in `n_done`, after) C.n, timeout 3min"
    ]


def test_durations_are_written_in_the_largest_unit() -> None:
    assert [duration(ms) for ms in (1, 1500, 2000, 120_000, 7_200_000, 86_400_000)] == [
        "1ms",
        "1500ms",
        "2s",
        "2min",
        "2h",
        "1d",
    ]


# -- the command line


CHAIN = HEADER + (
    "function C { rpc m(Req) returns Rep; }\n"
    "function B { rpc k(Req) returns Rep calls C.m -> m_done timeout 5s completes k; }\n"
    "function A { on add(Req) calls B.k -> k_done timeout 1s; }\n"
    'ingress adds: kafka topic "adds" -> A.add;\n'
)


@pytest.mark.parametrize("command", ["check", "compile"])
def test_warnings_are_printed_and_counted_and_the_run_succeeds(
    command: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "chain.sfidl"
    path.write_text(CHAIN)
    args = [command, str(path)] + (["-o", str(tmp_path / "out")] if command == "compile" else [])
    assert main(args) == 0
    err = capsys.readouterr().err
    assert ": warning[timeout-too-short]: timeout 1s on `B.k` is not longer than the 5s" in err
    assert err.splitlines()[-1].endswith(", 1 warning")
    assert "error" not in err
