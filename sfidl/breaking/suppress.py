"""`// sfidl:allow RULE_ID reason` comments in the new file: accepted breaking changes.

A comment at the end of a line covers findings on that line; a comment on a line of its
own covers the next line that is not a comment (the declaration it stands above). Several
ids are separated by commas. The reason is required: it is the record of why breaking
that deployed data was acceptable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sfidl.check.rules import BAD_ALLOW
from sfidl.diagnostics import Diagnostic, Span

_ALLOW = re.compile(r"sfidl:allow(?![-\w])")
_IDS = re.compile(r"\s*([A-Z][A-Z0-9_]*(?:\s*,\s*[A-Z][A-Z0-9_]*)*)")


@dataclass(frozen=True)
class Allow:
    """One rule a comment accepts on one line."""

    rule: str
    reason: str
    span: Span  # the comment


@dataclass(frozen=True)
class Suppressions:
    """The allow comments of a program by the line they cover, and the malformed ones."""

    by_line: Mapping[tuple[str, int], tuple[Allow, ...]]
    errors: tuple[Diagnostic, ...]

    @property
    def allows_all(self) -> tuple[Allow, ...]:
        """Every well-formed allow, in file and line order."""
        return tuple(sorted((a for v in self.by_line.values() for a in v), key=lambda a: a.span))

    def allows(self, rule: str, span: Span) -> Allow | None:
        return next(
            (a for a in self.by_line.get((span.file, span.line), ()) if a.rule == rule), None
        )


def find_suppressions(sources: Mapping[str, str], rules: Iterable[str]) -> Suppressions:
    """Every `sfidl:allow` comment of ``sources``; malformed ones are errors."""
    known = set(rules)
    by_line: dict[tuple[str, int], list[Allow]] = {}
    errors: list[Diagnostic] = []
    for path, text in sources.items():
        lines = text.splitlines()
        for index, line in enumerate(lines):
            # `sfidl:allow-lint` is lint's suppression (sfidl.check.lint), not ours.
            found = _ALLOW.search(line)
            start = found.start() if found else -1
            if start < 0 or "//" not in line[:start]:
                continue
            slash = line.rfind("//", 0, start)
            span = Span(path, index + 1, slash + 1, index + 1, len(line) + 1)
            rest = line[start + len("sfidl:allow") :]
            match = _IDS.match(rest)
            ids = [i.strip() for i in match.group(1).split(",")] if match else []
            reason = rest[match.end() if match else 0 :].strip().lstrip(":-").strip()
            if not ids:
                errors.append(
                    Diagnostic(
                        span,
                        "`sfidl:allow` names no rule",
                        hint="write `// sfidl:allow RULE_ID why this is safe`",
                        code=BAD_ALLOW,
                    )
                )
                continue
            unknown = [i for i in ids if i not in known]
            if unknown:
                errors.append(
                    Diagnostic(
                        span,
                        f"`sfidl:allow` names an unknown rule `{unknown[0]}`",
                        hint="docs/breaking.md lists the rules",
                        code=BAD_ALLOW,
                    )
                )
                continue
            if not reason:
                errors.append(
                    Diagnostic(
                        span,
                        f"`sfidl:allow {' '.join(ids)}` gives no reason",
                        hint="say why breaking this is acceptable: `// sfidl:allow RULE_ID why`",
                        code=BAD_ALLOW,
                    )
                )
                continue
            target = index + 1 if line[:slash].strip() else _next_code_line(lines, index)
            for rule in ids:
                by_line.setdefault((path, target), []).append(Allow(rule, reason, span))
    return Suppressions({k: tuple(v) for k, v in by_line.items()}, tuple(errors))


def _next_code_line(lines: list[str], index: int) -> int:
    """The 1-based number of the first line after ``index`` that is not blank or a comment."""
    for later in range(index + 1, len(lines)):
        stripped = lines[later].strip()
        if stripped and not stripped.startswith("//"):
            return later + 1
    return index + 1
