"""Collecting diagnostics: every check reports here and carries on."""

from __future__ import annotations

from sfidl.diagnostics import Diagnostic, Severity, Span


class Reporter:
    """The diagnostics of one run, errors and warnings, in the order found."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def error(
        self, span: Span, message: str, hint: str | None = None, *, code: str | None = None
    ) -> None:
        """Report an error of the rule ``code`` (an id from :mod:`sfidl.check.rules`)."""
        self.diagnostics.append(Diagnostic(span, message, hint, code=code))

    def warning(
        self, span: Span, message: str, hint: str | None = None, *, code: str | None = None
    ) -> None:
        """Report a warning of the rule ``code`` (an id from :mod:`sfidl.check.rules`)."""
        self.diagnostics.append(Diagnostic(span, message, hint, Severity.WARNING, code=code))

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)


def where(span: Span) -> str:
    """``file:line:column``, to refer to another declaration in a message."""
    return f"{span.file}:{span.line}:{span.column}"
