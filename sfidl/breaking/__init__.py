"""`sfidl breaking`: what a new version of a .sfidl file breaks in a deployed application.

Rules are data (:class:`~sfidl.breaking.rule.Rule`), one module per concern; every rule
has a fixture pair under tests/breaking/<RULE_ID>/ and an entry in docs/breaking.md.

    result = compare(old_program, new_program, new_sources)
    result.findings          # what the enabled rules flagged and no comment allowed
"""

from __future__ import annotations

from sfidl.breaking.rule import Category, Change, Finding, Rule
from sfidl.breaking.rules import RULES
from sfidl.breaking.run import Result, compare

__all__ = ["RULES", "Category", "Change", "Finding", "Result", "Rule", "compare"]
