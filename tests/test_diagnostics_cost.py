"""Reporting N errors costs time linear in N and in the file's size (issue 9).

Counted, not timed: how often a source is split into lines, how many close-match
comparisons the "did you mean" hints make, how often their candidates are gathered.
Before, each rendered diagnostic split its whole file and each unknown name was compared
with every declaration: 1,000 unknown types took 20 s, 2,000 took 80 s.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

import pytest

from sfidl import diagnostics
from sfidl.diagnostics import (
    SUGGESTION_BUDGET,
    CompileError,
    Diagnostic,
    Span,
    Suggester,
    render_all,
)
from sfidl.frontend import load_program


def _count_splits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    split: list[str] = []
    original = diagnostics._split_lines

    def counting(text: str) -> list[str]:
        split.append(text)
        return original(text)

    monkeypatch.setattr(diagnostics, "_split_lines", counting)
    return split


def test_rendering_splits_each_file_once(monkeypatch: pytest.MonkeyPatch) -> None:
    split = _count_splits(monkeypatch)
    sources = {f: "".join(f"line {i}\n" for i in range(1, 501)) for f in ("a.sfidl", "b.sfidl")}
    found = [
        Diagnostic(Span.point(f, line, 1), f"problem {line}", code="unknown-type")
        for f in sources
        for line in range(1, 501)
    ]
    rendered = CompileError(found, sources).render()
    assert len(split) == 2
    assert " 500 | line 500\n" in rendered and rendered.endswith("1000 errors")
    split.clear()
    assert len(render_all(found, sources)) == 1000 and len(split) == 2


def _unknown_types(count: int) -> str:
    return "namespace a;\n" + "".join(
        f"message M{i} {{ Unknwn{i} x = 1; }}\n" for i in range(count)
    )


def test_many_errors_split_the_file_once_and_hints_stay_within_budget(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    split = _count_splits(monkeypatch)
    compared: list[int] = []
    prepared: list[int] = []
    close_matches = difflib.get_close_matches

    def counting_matches(word: str, possibilities: list[str], n: int, cutoff: float) -> list[str]:
        compared.append(len(possibilities))
        return close_matches(word, possibilities, n=n, cutoff=cutoff)

    class CountingCandidates(diagnostics._Candidates):
        def __init__(self, candidates: Iterable[str]) -> None:
            prepared.append(1)
            super().__init__(candidates)

    monkeypatch.setattr(diagnostics.difflib, "get_close_matches", counting_matches)
    monkeypatch.setattr(diagnostics, "_Candidates", CountingCandidates)
    monkeypatch.chdir(tmp_path)
    count = 600  # 600 unknown names among 600 messages: 360,000 pairs, over the budget
    first = "namespace a;\nmessage Order {}\nmessage Usr { Ordr o = 1; }\n"
    last = "message Late { Ordr o = 1; order p = 2; }\n"
    Path("many.sfidl").write_text(
        first + _unknown_types(count).removeprefix("namespace a;\n") + last
    )
    with pytest.raises(CompileError) as raised:
        load_program(Path("many.sfidl"))
    rendered = raised.value.render()
    assert rendered.endswith(f"{count + 3} errors")
    assert len(split) == 1  # the one file, however many errors it has
    assert len(prepared) == 1  # the file's types, gathered once for all unknown names
    assert sum(compared) <= SUGGESTION_BUDGET < count * count
    hints = {(d.span.line, d.message): d.hint for d in raised.value.diagnostics}
    # The first unknown names get close matches; once the budget is spent, only a name
    # that differs in case is suggested.
    assert hints[3, "unknown type `Ordr`"] == "did you mean `Order`?"
    assert hints[count + 4, "unknown type `Ordr`"] is None
    assert hints[count + 4, "unknown type `order`"] == "did you mean `Order`?"


def test_a_suggester_spends_its_budget_then_only_looks_up_case() -> None:
    names = [f"Name{i}" for i in range(100)]
    suggester = Suggester(budget=250)
    assert suggester.hint("Nme5", names) == "did you mean `Name5`?"
    assert suggester.hint("Nme6", names) == "did you mean `Name6`?"
    assert suggester.remaining == 50
    # Out of budget: no comparison, but a name that differs only in case is still found.
    assert suggester.hint("Nme7", names) is None
    assert suggester.hint("name7", names) == "did you mean `Name7`?"
    assert suggester.remaining == 50
