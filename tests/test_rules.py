"""The rule registry (sfidl/check/rules.py): every rule a user can break has a stable id."""

from __future__ import annotations

import re

from sfidl.check import rules
from sfidl.check.lint import RULE_IDS, SUPPRESSION_ID
from sfidl.diagnostics import Severity


def test_ids_are_kebab_case_and_summaries_one_line() -> None:
    assert len(rules.RULES) > 50
    for id, rule in rules.RULES.items():
        assert rule.id == id
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", id), id
        assert rule.summary and "\n" not in rule.summary, id


def test_lint_rules_are_registered_as_warnings() -> None:
    for id in (*RULE_IDS, SUPPRESSION_ID):
        assert rules.RULES[id].severity is Severity.WARNING, id
