"""Findings as text (like compiler diagnostics), JSON, or GitHub Actions annotations."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from sfidl.breaking.rule import Finding
from sfidl.breaking.run import Result
from sfidl.breaking.suppress import Allow
from sfidl.check import rules
from sfidl.diagnostics import Diagnostic, Severity, SourceLines, Span

Label = Callable[[str], str]
"""How an old file's path is shown (``main:shop.sfidl`` for a file read from git)."""


def render(result: Result, fmt: str, sources: Mapping[str, str], old_label: Label) -> str:
    """The report in ``fmt`` (``text``, ``json`` or ``github``), ending with a newline."""
    if fmt == "json":
        return _json(result, old_label)
    if fmt == "github":
        return _github(result)
    return _text(result, sources, old_label)


def summary(result: Result) -> str:
    """One line: how many findings of each severity, and how many were allowed."""
    errors = sum(1 for f in result.findings if f.rule.severity is Severity.ERROR)
    warnings = len(result.findings) - errors
    allowed = f", {len(result.allowed)} allowed by sfidl:allow" if result.allowed else ""
    if not result.findings:
        return f"sfidl breaking: no breaking changes{allowed}"
    return (
        f"sfidl breaking: {_count(errors, 'breaking change')}, "
        f"{_count(warnings, 'warning')}{allowed}"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _where(span: Span, old_label: Label) -> str:
    return f"{old_label(span.file)}:{span.line}:{span.column}"


def _text(result: Result, sources: Mapping[str, str], old_label: Label) -> str:
    parts = []
    source_lines = SourceLines(sources)  # each file split once, however many findings
    for finding in result.findings:
        change = finding.change
        diagnostic = Diagnostic(
            change.span, change.message, severity=finding.rule.severity, code=finding.rule.id
        )
        shown = [diagnostic.render(source_lines)]
        if change.old is not None:
            shown.append(f"  = was: {_where(change.old, old_label)}")
        shown.append(f"  = breaks: {finding.rule.reason}")
        shown.append(f"  = fix: {finding.fix}")
        parts.append("\n".join(shown))
    for allow in result.unused:
        parts.append(_unused(allow).render(source_lines))
    parts.append(summary(result))
    return "\n".join(parts) + "\n"


def _unused(allow: Allow) -> Diagnostic:
    return Diagnostic(
        allow.span,
        f"`sfidl:allow {allow.rule}` accepts nothing here",
        hint="remove it once the change it accepted is deployed (or move it to the line it means)",
        severity=Severity.WARNING,
        code=rules.UNUSED_ALLOW,
    )


def _json(result: Result, old_label: Label) -> str:
    def entry(finding: Finding) -> dict[str, object]:
        s, old = finding.span, finding.change.old
        return {
            "rule": finding.rule.id,
            "category": finding.rule.category.value,
            "severity": finding.rule.severity.value,
            "file": s.file,
            "line": s.line,
            "column": s.column,
            "end_line": s.end_line,
            "end_column": s.end_column,
            "message": finding.change.message,
            "old": (
                None
                if old is None
                else {"file": old_label(old.file), "line": old.line, "column": old.column}
            ),
            "reason": finding.rule.reason,
            "fix": finding.fix,
        }

    document = {
        "breaking": result.breaks,
        "findings": [entry(f) for f in result.findings],
        "allowed": [
            {"rule": f.rule.id, "file": f.span.file, "line": f.span.line, "reason": a.reason}
            for f, a in result.allowed
        ],
        "unused_allows": [
            {"rule": a.rule, "file": a.span.file, "line": a.span.line} for a in result.unused
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def _github(result: Result) -> str:
    lines = []
    for finding in result.findings:
        s = finding.span
        level = "error" if finding.rule.severity is Severity.ERROR else "warning"
        properties = ",".join(
            f"{key}={_property(str(value))}"
            for key, value in (
                ("file", s.file),
                ("line", s.line),
                ("col", s.column),
                ("endLine", s.end_line),
                ("endColumn", s.end_column),
                ("title", f"sfidl breaking {finding.rule.id}"),
            )
        )
        text = f"{finding.change.message}\n{finding.rule.reason}\nfix: {finding.fix}"
        lines.append(f"::{level} {properties}::{_data(text)}")
    for allow in result.unused:
        s = allow.span
        where = f"file={_property(s.file)},line={s.line},col={s.column}"
        lines.append(f"::warning {where}::{_data(_unused(allow).message)}")
    lines.append(summary(result))
    return "\n".join(lines) + "\n"


def _data(text: str) -> str:
    """A workflow command's message, escaped as the Actions runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
