"""The rule registry (sfidl/check/rules.py): every rule a user can break has a stable id,
a golden case whose expected output shows it, and a line in docs/language.md.

    SFIDL_UPDATE_GOLDENS=1 pytest tests/test_rules.py   # rewrite the docs' list of rules
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sfidl.check import rules
from sfidl.check.lint import RULE_IDS, SUPPRESSION_ID
from sfidl.diagnostics import Severity

ROOT = Path(__file__).parent.parent
# Golden cases: tests/cases/<case>/expected.txt.
EXPECTED = sorted((ROOT / "tests" / "cases").glob("*/expected.txt"))
RENDERED = re.compile(r"^\S+:\d+:\d+: (error|warning)\[([a-z0-9-]+)\]: ", re.M)
# Rules that no case of one program shows, each with the test that shows its diagnostic.
WITHOUT_CASE = {
    # sfidl fmt refusing to rewrite a file it would change in meaning: a bug in sfidl fmt.
    rules.FMT_FAILED: ROOT / "tests" / "test_fmt.py",
    # The parser's guard against exhausting Python's recursion: the fast parser
    # (sfidl/lalr_driver.py) keeps its own stack, so no file is known to reach it.
    rules.TOO_DEEP: ROOT / "sfidl" / "parse.py",
    # sfidl breaking's own suppression comments, checked when it compares two versions.
    rules.BAD_ALLOW: ROOT / "tests" / "test_breaking.py",
    rules.UNUSED_ALLOW: ROOT / "tests" / "test_breaking.py",
    # A file name of some 250 bytes, which a case folder would carry into every checkout.
    rules.FILE_NAME_TOO_LONG: ROOT / "tests" / "test_cli_limits.py",
}
DOCS = ROOT / "docs" / "language.md"
BEGIN, END = "<!-- rule ids: begin -->\n", "<!-- rule ids: end -->\n"


def _rendered() -> dict[str, set[str]]:
    """Each id the golden cases show -> the severities it is shown with."""
    seen: dict[str, set[str]] = {}
    for expected in EXPECTED:
        for severity, id in RENDERED.findall(expected.read_text(encoding="utf-8")):
            seen.setdefault(id, set()).add(severity)
    return seen


def test_ids_are_kebab_case_and_summaries_one_line() -> None:
    assert len(rules.RULES) > 50
    for id, rule in rules.RULES.items():
        assert rule.id == id
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", id), id
        assert rule.summary and "\n" not in rule.summary, id


def test_lint_rules_are_registered_as_warnings() -> None:
    for id in (*RULE_IDS, SUPPRESSION_ID):
        assert rules.RULES[id].severity is Severity.WARNING, id


def test_every_rule_has_a_golden_case() -> None:
    assert len(EXPECTED) > 80
    missing = set(rules.RULES) - set(_rendered()) - set(WITHOUT_CASE)
    assert not missing, f"no case in tests/cases/ shows {sorted(missing)}"
    for id, shown_by in WITHOUT_CASE.items():
        assert id not in _rendered(), f"{id} has a case now: drop it from WITHOUT_CASE"
        text = shown_by.read_text(encoding="utf-8")
        assert f"rules.{id.upper().replace('-', '_')}" in text or f"[{id}]" in text, id


def test_every_id_shown_is_registered_with_its_severity() -> None:
    for id, severities in _rendered().items():
        assert id in rules.RULES, f"{id} is shown by a case but not registered"
        assert severities == {rules.RULES[id].severity.value}, id


def _docs_section() -> str:
    rows = [f"| `{r.id}` | {r.severity.value} | {r.summary} |\n" for r in rules.RULES.values()]
    return BEGIN + "| id | severity | rule |\n|----|----------|------|\n" + "".join(rows) + END


def test_the_docs_list_every_rule() -> None:
    text = DOCS.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    if os.environ.get("SFIDL_UPDATE_GOLDENS"):
        DOCS.write_text(text[:start] + _docs_section() + text[end:], encoding="utf-8")
        return
    assert text[start:end] == _docs_section(), (
        "docs/language.md's list of rule ids is stale: "
        "SFIDL_UPDATE_GOLDENS=1 pytest tests/test_rules.py rewrites it"
    )
