"""Rules for declared names: what Python and the generated code can carry."""

from __future__ import annotations

import keyword
import re

from sfidl import ast
from sfidl.check import rules
from sfidl.check.report import Reporter

_ASCII_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def with_article(word: str) -> str:
    """``word`` with its indefinite article: ``an enum value``, ``a field``, ``an `int32```."""
    return ("an " if word.lstrip("`")[:1] in tuple("aeiou") else "a ") + word


def check_identifier(report: Reporter, name: ast.Name, what: str, python: bool = True) -> bool:
    """Report a name that protobuf (or, with ``python``, Python) cannot carry; True when fine.

    A Python name must not start with `_`: the generated modules keep those for themselves.
    """
    if not _ASCII_IDENTIFIER.match(name.text):
        report.error(
            name.span,
            f"`{name.text}` is not a valid {what} name",
            hint="names are ASCII letters, digits and `_`, not starting with a digit",
            code=rules.BAD_NAME,
        )
        return False
    if python and keyword.iskeyword(name.text):
        report.error(
            name.span,
            f"`{name.text}` is a Python keyword and cannot name {with_article(what)}",
            hint=f"rename it, e.g. `{name.text}_`",
            code=rules.PYTHON_KEYWORD,
        )
        return False
    if python and name.text.startswith("_"):
        _reserved_prefix(report, name, what, "_")
        return False
    return True


def check_member_name(report: Reporter, name: ast.Name, what: str) -> bool:
    """A name that becomes a member of a generated class: also no `sfidl` prefix."""
    if not check_identifier(report, name, what):
        return False
    if name.text.lower().startswith("sfidl"):
        _reserved_prefix(report, name, what, name.text[:5])
        return False
    return True


def _reserved_prefix(report: Reporter, name: ast.Name, what: str, prefix: str) -> None:
    report.error(
        name.span,
        f"{what} name `{name.text}` starts with `{prefix}`",
        hint="names starting with `_` or `sfidl` are reserved for generated code",
        code=rules.RESERVED_PREFIX,
    )
