"""The runner: every enabled rule over the two programs, minus what comments allow."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sfidl.breaking.pair import Pair
from sfidl.breaking.rule import Category, Finding, Rule
from sfidl.breaking.rules import RULES
from sfidl.breaking.suppress import Allow, find_suppressions
from sfidl.diagnostics import Diagnostic, Severity
from sfidl.model import Program


@dataclass(frozen=True)
class Result:
    """What a comparison found, what comments accepted, and which comments are malformed."""

    findings: tuple[Finding, ...]  # sorted by place in the new program
    allowed: tuple[tuple[Finding, Allow], ...]  # accepted by a `sfidl:allow` comment
    errors: tuple[Diagnostic, ...]  # malformed `sfidl:allow` comments
    # Allows of an enabled category that accepted nothing: stale once the change is deployed.
    unused: tuple[Allow, ...] = ()

    @property
    def breaks(self) -> bool:
        """Whether the check fails: an error finding (warnings never fail it)."""
        return any(f.rule.severity is Severity.ERROR for f in self.findings)


def compare(
    old: Program,
    new: Program,
    new_sources: Mapping[str, str],
    *,
    categories: Collection[Category] = tuple(Category),
    rules: Sequence[Rule] = RULES,
) -> Result:
    """Run the ``rules`` of ``categories`` (all by default) comparing ``old`` to ``new``."""
    pair = Pair(old, new, new_sources)
    suppressions = find_suppressions(new_sources, (r.id for r in rules))
    findings: list[Finding] = []
    allowed: list[tuple[Finding, Allow]] = []
    order = {rule.id: index for index, rule in enumerate(rules)}
    for rule in rules:
        if rule.category not in categories:
            continue
        for change in rule.check(pair):
            finding = Finding(rule, change)
            allow = suppressions.allows(rule.id, change.span)
            if allow is None:
                findings.append(finding)
            else:
                allowed.append((finding, allow))
    findings.sort(key=lambda f: (f.span, order[f.rule.id], f.change.message))
    used = {allow for _, allow in allowed}
    enabled = {rule.id for rule in rules if rule.category in categories}
    unused = tuple(a for a in suppressions.allows_all if a not in used and a.rule in enabled)
    return Result(tuple(findings), tuple(allowed), suppressions.errors, unused)
