"""Python source laid out the way black lays it out, for the shapes the stubs template writes.

The stubs are emitted already black-stable, so compiling never needs black for them:

- :func:`docstring` writes a docstring literal exactly as black rewrites one (first line
  stripped, the rest re-indented, closing quotes moved when the last line is too long);
- :func:`split_line` breaks a line longer than black's limit at a bracket the way black
  leaves it once split: one element per line, each with a trailing comma (black keeps such
  a "magic trailing comma" exploded, so the result is stable even where black would have
  hugged the elements on one line);
- :func:`black_stable` says whether a block of lines contains nothing this module cannot
  vouch for (a backslash, a character outside printable ASCII, a line it could not bring
  under the limit): those blocks go through black itself (:mod:`sfidl.gen.python_format`).
"""

from __future__ import annotations

import re

LINE_LENGTH = 100
_QUOTE = '"""'
_OPENING = "([{"
_CLOSING = ")]}"


def docstring(text: str, indent: str) -> str:
    """The literal black would leave for a docstring holding ``text`` at ``indent``.

    Only for text :func:`plain_docstring` accepts; the caller escapes anything else and
    lets black format it.
    """
    lines = text.split("\n")
    if len(lines) > 1:
        body = _multiline(lines, indent)
    else:
        body = text.strip()
    if body:
        if body[0] == '"':
            body = " " + body
        if body[-1] == '"':
            body += " "
    elif text:
        body = " "
    last = body.splitlines()[-1] if body and not body.endswith("\n") else ""
    if (
        len(body.splitlines()) > 1
        and len(last) + len(_QUOTE) > LINE_LENGTH
        and len(indent) + len(_QUOTE) <= LINE_LENGTH
    ):
        return _QUOTE + body + "\n" + indent + _QUOTE
    return _QUOTE + body + _QUOTE


def plain_docstring(text: str) -> bool:
    """Whether :func:`docstring` reproduces black for ``text``: printable, no backslash, no
    triple quote (black's own escaping and tab expansion are not reproduced here)."""
    return (
        "\\" not in text
        and _QUOTE not in text
        and all(line.isprintable() for line in text.split("\n"))
    )


def _multiline(lines: list[str], indent: str) -> str:
    """Black's (PEP 257) re-indentation: the common indentation of the later lines removed."""
    margins = [len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()]
    margin = min(margins) if margins else None
    trimmed = [lines[0].strip()]
    if margin is not None:
        last = len(lines) - 2
        for i, line in enumerate(lines[1:]):
            kept = line[margin:].rstrip()
            trimmed.append(indent + kept if kept or i == last else "")
    return "\n".join(trimmed)


def split_line(line: str) -> list[str]:
    """``line`` as black leaves it: itself when it fits, else split at a bracket, recursively.

    A ``def`` splits at its parameters (black's left-hand split); anything else at the
    bracket that closes last (its right-hand split). A line that cannot be brought under
    the limit this way comes back with a part still too long: :func:`black_stable` sees it.
    """
    if len(line) <= LINE_LENGTH:
        return [line]
    indent = line[: len(line) - len(line.lstrip())]
    code = line[len(indent) :]
    pair = _split_at(code, first=code.startswith(("def ", "async def ")))
    if pair is None:
        return _split_assignment(indent, code) or [line]
    opening, closing = pair
    head, body, tail = code[: opening + 1], code[opening + 1 : closing], code[closing:]
    elements = _elements(body)
    if not elements:
        return [line]
    inner = indent + "    "
    out = [indent + head]
    if code[opening] == "[" and len(elements) == 1 and not body.rstrip().endswith(","):
        # One subscript (a long return annotation): black keeps it whole on its own line.
        out.append(inner + elements[0])
    else:
        for element in elements:
            out += split_line(inner + element + ",")
    return out + split_line(indent + tail)


def _split_assignment(indent: str, code: str) -> list[str] | None:
    """``name: T = a | b`` too long: black puts the value in parentheses, then splits it
    before each ``|`` if it still does not fit."""
    target, equals, value = code.partition(" = ")
    # Called only when no bracket pair matches: a bracket here opens or closes a statement
    # of several lines (`X = f(`), which parentheses around the value would break.
    if not equals or any(c in code for c in _OPENING + _CLOSING) or "'" in code or '"' in code:
        return None
    inner = indent + "    "
    body = [inner + value]
    if len(body[0]) > LINE_LENGTH:
        operands = value.split(" | ")
        body = [inner + operands[0]] + [inner + "| " + operand for operand in operands[1:]]
    return [indent + target + " = (", *body, indent + ")"]


# What matters for splitting: string literals (skipped whole), brackets and commas.
_NESTING = "()[]{}\"'"  # what can hide a comma from the top level
_SIGNIFICANT = re.compile(r""""[^"]*"|'[^']*'|[()\[\]{},]""")
_BRACKETS = re.compile(r""""[^"]*"|'[^']*'|[()\[\]{}]""")  # the same, commas left out


def _split_at(code: str, first: bool) -> tuple[int, int] | None:
    """The matched bracket pair (outside string literals) whose opening comes first
    (``first``) or whose closing comes last, as indices; None when there is no pair."""
    found: tuple[int, int] | None = None
    stack: list[int] = []
    for match in _BRACKETS.finditer(code):
        char = match.group()
        if char in _OPENING:
            stack.append(match.start())
        elif char in _CLOSING and stack:
            opening = stack.pop()
            if not first:
                found = (opening, match.start())
            elif found is None or opening < found[0]:
                found = (opening, match.start())
                if not stack:
                    return found  # closes every bracket opened so far: none opens earlier
    return found


def _elements(body: str) -> list[str]:
    """The comma-separated elements at the top level of a bracket's contents."""
    if not any(c in body for c in _NESTING):  # no bracket or string: every comma counts
        parts = body.split(",")
        last = parts.pop().strip()
        return [part.strip() for part in parts] + ([last] if last else [])
    elements: list[str] = []
    depth = 0
    start = 0
    for match in _SIGNIFICANT.finditer(body):
        char = match.group()
        if char in _OPENING:
            depth += 1
        elif char in _CLOSING:
            depth -= 1
        elif char == "," and depth == 0:
            elements.append(body[start : match.start()].strip())
            start = match.end()
    last = body[start:].strip()
    if last:
        elements.append(last)
    return elements


def top_level_blocks(text: str) -> list[list[str]]:
    """``text``'s lines in blocks separated by two blank lines (outside docstrings), laid out.

    Black separates top-level definitions by two blank lines and formats what lies between
    two such gaps the same whether it sees the block alone or the whole file.
    """
    blocks: list[list[str]] = [[]]
    block = blocks[-1]
    in_docstring = False
    blank = 0
    for line in text.split("\n"):
        if not in_docstring and line == "":
            blank += 1
            continue
        if blank >= 2 and block:
            block = []
            blocks.append(block)
        elif blank:
            block += [""] * blank
        blank = 0
        quoted = _QUOTE in line
        if (  # a line that fits is its own layout: split_line only for a longer one
            len(line) > LINE_LENGTH
            and not in_docstring
            and not quoted
            and not line.lstrip().startswith("#")
        ):
            block += split_line(line)
        else:
            block.append(line)
        if quoted and line.count(_QUOTE) % 2:
            in_docstring = not in_docstring
    return blocks


def black_stable(lines: list[str]) -> bool:
    """Whether black would leave ``lines`` (laid out by this module) exactly as they are.

    Conservative: code lines must fit and be plain printable ASCII without a backslash;
    comment and docstring lines (black never wraps them) only need no backslash and
    printable characters.
    """
    joined = "".join(lines)  # what holds for every line is checked once, on all of them
    if "\\" in joined or not joined.isprintable():
        return False
    ascii = joined.isascii()
    in_docstring = False
    for line in lines:
        if _QUOTE in line:  # docstring text
            if line.count(_QUOTE) % 2:
                in_docstring = not in_docstring
            continue
        if in_docstring or (ascii and len(line) <= LINE_LENGTH):
            continue
        if line.lstrip().startswith("#"):
            continue
        if len(line) > LINE_LENGTH or not line.isascii():
            return False
    return not in_docstring
