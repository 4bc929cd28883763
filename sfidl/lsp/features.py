"""Answers to an editor's questions about one document, from its program's index."""

from __future__ import annotations

import re
from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path
from pygls.workspace import PositionCodec

from sfidl.diagnostics import Diagnostic, Severity, Span
from sfidl.index import HANDLERS, Declaration, Kind
from sfidl.lsp.positions import from_position, lines_of, to_range
from sfidl.lsp.programs import Snapshot
from sfidl.model import SCALARS
from sfidl.tools.fmt import format_source

_SYMBOL_KINDS = {
    Kind.MESSAGE: types.SymbolKind.Struct,
    Kind.ERROR: types.SymbolKind.Struct,
    Kind.ENUM: types.SymbolKind.Enum,
    Kind.ENUM_VALUE: types.SymbolKind.EnumMember,
    Kind.FIELD: types.SymbolKind.Field,
    Kind.ONEOF: types.SymbolKind.Field,
    Kind.FUNCTION: types.SymbolKind.Class,
    Kind.STATE: types.SymbolKind.Property,
    Kind.RPC: types.SymbolKind.Method,
    Kind.ONEWAY: types.SymbolKind.Method,
    Kind.TIMER: types.SymbolKind.Event,
    Kind.CONTINUATION: types.SymbolKind.Method,
    Kind.INGRESS: types.SymbolKind.Interface,
    Kind.EGRESS: types.SymbolKind.Interface,
}

_COMPLETION_KINDS = {
    Kind.MESSAGE: types.CompletionItemKind.Struct,
    Kind.ERROR: types.CompletionItemKind.Struct,
    Kind.ENUM: types.CompletionItemKind.Enum,
    Kind.FUNCTION: types.CompletionItemKind.Class,
    Kind.RPC: types.CompletionItemKind.Method,
    Kind.ONEWAY: types.CompletionItemKind.Method,
}

# The dotted name being typed before the cursor: `Inv`, `common.Mo`, `Inventory.`.
_TYPED = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*)*\.?\Z|\Z")


def diagnostic(value: Diagnostic, text: str, codec: PositionCodec) -> types.Diagnostic:
    """A compiler diagnostic as the editor shows it: the message, then the hint."""
    message = value.message if value.hint is None else f"{value.message}\nhint: {value.hint}"
    return types.Diagnostic(
        range=to_range(value.span, lines_of(text), codec),
        message=message,
        severity=(
            types.DiagnosticSeverity.Error
            if value.severity is Severity.ERROR
            else types.DiagnosticSeverity.Warning
        ),
        source="sfidl",
        code=value.code,
    )


def hover(
    snapshot: Snapshot, path: Path, position: types.Position, codec: PositionCodec
) -> types.Hover | None:
    """The declaration's sfidl text, the name it is known by, and its doc comment."""
    found = _at(snapshot, path, position, codec)
    if found is None:
        return None
    span, declaration = found
    parts = [
        f"```sfidl\n{declaration.signature}\n```",
        f"{declaration.kind.value} `{declaration.qualified}`",
    ]
    if declaration.doc:
        parts.append(declaration.doc)
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n\n".join(parts)),
        range=to_range(span, lines_of(snapshot.sources[str(path)]), codec),
    )


def definition(
    snapshot: Snapshot, path: Path, position: types.Position, codec: PositionCodec
) -> types.Location | None:
    found = _at(snapshot, path, position, codec)
    if found is None:
        return None
    target = found[1].span
    file = snapshot.files[target.file]
    lines = lines_of(snapshot.sources[target.file])
    return types.Location(uri=from_fs_path(str(file)) or "", range=to_range(target, lines, codec))


def completion(
    snapshot: Snapshot | None, path: Path, text: str, position: types.Position, codec: PositionCodec
) -> types.CompletionList:
    """Type and function names the file may use; a function's handlers after `Function.`.

    ``text`` is the document as it is now (it may not parse); the names come from the
    latest text of it that did.
    """
    lines = lines_of(text)
    line, column = from_position(position, lines, codec)
    before = lines[line - 1][: column - 1] if line <= len(lines) else ""
    typed = _TYPED.search(before)
    assert typed is not None  # the pattern matches the empty string at the end
    start = types.Position(line=position.line, character=position.character)
    start.character -= codec.client_num_units(typed.group())
    items: list[types.CompletionItem] = []
    index = None if snapshot is None else snapshot.index
    file = str(path)
    owner, dot, _ = typed.group().rpartition(".")
    function = index.function(file, owner) if index is not None and dot else None
    if function is not None:
        # After `Inventory.`: its handlers, replacing only what follows the dot.
        start.character += codec.client_num_units(owner + dot)
        for handler in function.children:
            if handler.kind in HANDLERS:
                items.append(_item(handler.name, handler, start, position))
        return types.CompletionList(is_incomplete=False, items=items)
    if index is not None:
        for name, type_ in index.type_names(file):
            items.append(_item(name, type_, start, position, "well-known type"))
        for name, declaration in index.function_names(file):
            items.append(_item(name, declaration, start, position))
    items.extend(_item(scalar, None, start, position, "scalar") for scalar in SCALARS)
    return types.CompletionList(is_incomplete=False, items=items)


def document_symbols(
    snapshot: Snapshot, path: Path, codec: PositionCodec
) -> list[types.DocumentSymbol]:
    assert snapshot.index is not None
    lines = lines_of(snapshot.sources[str(path)])

    def symbol(declaration: Declaration) -> types.DocumentSymbol:
        first, _, rest = declaration.signature.partition("\n")
        return types.DocumentSymbol(
            name=declaration.name,
            detail=declaration.kind.value if rest else first,
            kind=_SYMBOL_KINDS[declaration.kind],
            range=to_range(declaration.extent, lines, codec),
            selection_range=to_range(declaration.span, lines, codec),
            children=[symbol(c) for c in declaration.children],
        )

    return [symbol(d) for d in snapshot.index.declarations.get(str(path), ())]


def formatting(text: str, path: Path, codec: PositionCodec) -> list[types.TextEdit]:
    """`sfidl fmt` of the document: one edit replacing all of it, none when it is formatted.

    Raises :class:`CompileError` when it cannot be formatted (it does not parse).
    """
    formatted = format_source(text, str(path))
    if formatted == text:
        return []
    lines = lines_of(text)
    end = types.Position(line=len(lines) - 1, character=codec.client_num_units(lines[-1]))
    whole = types.Range(start=types.Position(line=0, character=0), end=end)
    return [types.TextEdit(range=whole, new_text=formatted)]


def _at(
    snapshot: Snapshot, path: Path, position: types.Position, codec: PositionCodec
) -> tuple[Span, Declaration] | None:
    file = str(path)
    if snapshot.index is None or file not in snapshot.sources:
        return None
    line, column = from_position(position, lines_of(snapshot.sources[file]), codec)
    return snapshot.index.at(file, line, column)


def _item(
    label: str,
    declaration: Declaration | None,
    start: types.Position,
    end: types.Position,
    built_in: str = "",
) -> types.CompletionItem:
    """A name to insert over what was typed of it; ``built_in`` says what an undeclared one is."""
    kind: types.CompletionItemKind
    if declaration is None:
        kind, detail, doc = types.CompletionItemKind.TypeParameter, built_in, None
    else:
        kind = _COMPLETION_KINDS.get(declaration.kind, types.CompletionItemKind.Reference)
        detail = declaration.signature.partition("\n")[0]
        doc = declaration.doc or None
    return types.CompletionItem(
        label=label,
        kind=kind,
        detail=detail,
        documentation=doc,
        text_edit=types.TextEdit(range=types.Range(start=start, end=end), new_text=label),
    )
