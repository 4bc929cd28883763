"""Collecting diagnostics: every check reports here and carries on."""

from __future__ import annotations

from collections.abc import Collection

from sfidl.diagnostics import Diagnostic, Severity, Span, Suggester


class Reporter:
    """The diagnostics of one run, errors and warnings, in the order found."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self._suggester = Suggester()

    def error(self, span: Span, message: str, hint: str | None = None, *, code: str) -> None:
        """Report an error of the rule ``code`` (an id from :mod:`sfidl.check.rules`)."""
        self.diagnostics.append(Diagnostic(span, message, hint, code=code))

    def warning(self, span: Span, message: str, hint: str | None = None, *, code: str) -> None:
        """Report a warning of the rule ``code`` (an id from :mod:`sfidl.check.rules`)."""
        self.diagnostics.append(Diagnostic(span, message, hint, Severity.WARNING, code=code))

    def did_you_mean(self, name: str, candidates: Collection[str]) -> str | None:
        """A hint naming the candidate closest to ``name``, or None (see :class:`Suggester`:
        pass the same collection each time for the same candidates)."""
        return self._suggester.hint(name, candidates)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)


def where(span: Span) -> str:
    """``file:line:column``, to refer to another declaration in a message."""
    return f"{span.file}:{span.line}:{span.column}"
