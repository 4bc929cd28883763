"""`sfidl lsp` in a real session: the server runs as a subprocess and a pygls client speaks
LSP to it over its standard input and output, as an editor would."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

from sfidl.tools.fmt import format_source

DEADLINE = 30.0  # seconds for any one answer or notification

T = TypeVar("T")

# On disk, `common` has no `Coupon`: the shop sees it only in the editor's unsaved buffer.
COMMON_ON_DISK = "namespace common;\nmessage Money { int64 cents = 1; }\n"
COMMON = """\
namespace common;

/// An amount in cents.
message Money { int64 cents = 1; }
message Coupon { string code = 1; }

/// Keeps a trail.
function Audit {
  /// Writes one entry.
  on record(Money);
  rpc check(Money) returns Money;
}
"""
SHOP = """\
namespace shop;
import "common.sfidl";

/// What a user holds.
message Cart { common.Money total = 1; common.Coupon coupon = 2; }

function UserCart {
  state cart: Carrt;
  rpc pay(Cart) returns Cart calls common.Audit.check -> checked timeout 5s;
  on add(common.Money) sends common.Audit.record;
}

ingress adds: kafka topic "adds" -> UserCart.add;
"""


def _uri(path: Path) -> str:
    uri = from_fs_path(str(path))
    assert uri is not None
    return uri


class _Session:
    """A client with the diagnostics it was sent, by document."""

    def __init__(self) -> None:
        self.client = LanguageClient("sfidl-test", "1")
        self.diagnostics: dict[str, list[types.Diagnostic]] = {}
        self.changed = asyncio.Condition()

        self.messages: asyncio.Queue[str] = asyncio.Queue()

        @self.client.feature(types.WINDOW_SHOW_MESSAGE)
        async def shown(params: types.ShowMessageParams) -> None:
            await self.messages.put(params.message)

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        async def published(params: types.PublishDiagnosticsParams) -> None:
            async with self.changed:
                self.diagnostics[params.uri] = params.diagnostics
                self.changed.notify_all()

    async def answer(self, request: Awaitable[T]) -> T:
        return await asyncio.wait_for(request, DEADLINE)

    async def diagnostics_for(
        self, uri: str, wanted: Callable[[list[types.Diagnostic]], bool]
    ) -> list[types.Diagnostic]:
        """The document's diagnostics once they are as ``wanted``, within the deadline."""

        async def wait() -> list[types.Diagnostic]:
            async with self.changed:
                await self.changed.wait_for(
                    lambda: uri in self.diagnostics and wanted(self.diagnostics[uri])
                )
                return self.diagnostics[uri]

        try:
            return await asyncio.wait_for(wait(), DEADLINE)
        except TimeoutError:
            raise AssertionError(f"{uri}: {self.diagnostics.get(uri)}") from None


def _at(text: str, needle: str, offset: int = 0) -> types.Position:
    """The position of the first ``needle`` in ``text`` (plus ``offset`` characters)."""
    index = text.index(needle) + offset
    line = text.count("\n", 0, index)
    return types.Position(line=line, character=index - (text.rfind("\n", 0, index) + 1))


async def _session(tmp_path: Path) -> None:
    common_path = tmp_path / "common.sfidl"
    shop_path = tmp_path / "shop.sfidl"
    common_path.write_text(COMMON_ON_DISK)
    shop_path.write_text(SHOP)
    common, shop = _uri(common_path), _uri(shop_path)
    session = _Session()
    client = session.client
    await client.start_io(sys.executable, "-m", "sfidl", "lsp", "--stdio", cwd=str(tmp_path))
    try:
        result = await session.answer(
            client.initialize_async(
                types.InitializeParams(
                    capabilities=types.ClientCapabilities(), root_uri=_uri(tmp_path)
                )
            )
        )
        capabilities = result.capabilities
        assert capabilities.hover_provider and capabilities.definition_provider
        assert capabilities.document_symbol_provider
        assert capabilities.completion_provider is not None
        client.initialized(types.InitializedParams())
        for uri, text in ((common, COMMON), (shop, SHOP)):
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    types.TextDocumentItem(uri=uri, language_id="sfidl", version=1, text=text)
                )
            )

        # Diagnostics: the error with its range and hint; `common.Coupon` (only in the
        # buffer) resolves; the warnings of `common` as a program of its own, lint with ids.
        (error,) = await session.diagnostics_for(shop, lambda found: len(found) > 0)
        assert error.severity == types.DiagnosticSeverity.Error
        assert error.message == "unknown type `Carrt`\nhint: did you mean `Cart`?"
        assert error.range == types.Range(_at(SHOP, "Carrt"), _at(SHOP, "Carrt", 5))
        assert error.source == "sfidl" and error.code == "unknown-type"
        found = await session.diagnostics_for(common, lambda found: len(found) > 0)
        assert [(d.code, d.range.start) for d in found] == [
            ("unused-message", _at(COMMON, "Coupon")),
            ("no-ingress", _at(COMMON, "Audit")),
            ("unreachable-handler", _at(COMMON, "record")),
            ("unreachable-handler", _at(COMMON, "check")),
        ]
        assert all(d.severity == types.DiagnosticSeverity.Warning for d in found)
        warning = found[1]
        assert warning.message.startswith("the program has functions but no ingress\nhint: ")
        assert warning.range.start == _at(COMMON, "Audit")

        # Hover: the declaration, its full name and its doc comment, across the import.
        hover = await session.answer(
            client.text_document_hover_async(
                types.HoverParams(
                    types.TextDocumentIdentifier(shop), _at(SHOP, "common.Audit.record", 14)
                )
            )
        )
        assert hover is not None and isinstance(hover.contents, types.MarkupContent)
        assert hover.contents.value == (
            "```sfidl\non record(Money)\n```\n\non `Audit.record`\n\nWrites one entry."
        )
        assert hover.range == types.Range(
            _at(SHOP, "common.Audit.record", 13), _at(SHOP, "common.Audit.record", 19)
        )
        hover = await session.answer(
            client.text_document_hover_async(
                types.HoverParams(types.TextDocumentIdentifier(shop), _at(SHOP, "Cart {"))
            )
        )
        assert hover is not None and isinstance(hover.contents, types.MarkupContent)
        assert hover.contents.value == (
            "```sfidl\nmessage Cart {\n  common.Money total = 1;\n  common.Coupon coupon = 2;\n}"
            "\n```\n\nmessage `shop.Cart`\n\nWhat a user holds."
        )

        # Definition: a type, a function and a handler in the imported file.
        for written, offset, declared in (
            ("common.Money total", 0, "Money {"),
            ("common.Audit.check", 8, "Audit {"),
            ("common.Audit.check", 13, "check("),
        ):
            location = await session.answer(
                client.text_document_definition_async(
                    types.DefinitionParams(
                        types.TextDocumentIdentifier(shop), _at(SHOP, written, offset)
                    )
                )
            )
            assert isinstance(location, types.Location)
            name = declared.rstrip(" {(")
            assert (location.uri, location.range) == (
                common,
                types.Range(_at(COMMON, declared), _at(COMMON, declared, len(name))),
            )

        # Completion: a function's handlers after `Function.`, else types and functions.
        edited = SHOP.replace("sends common.Audit.record", "sends common.Audit.")
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(uri=shop, version=2),
                [types.TextDocumentContentChangeWholeDocument(text=edited)],
            )
        )
        completions = await session.answer(
            client.text_document_completion_async(
                types.CompletionParams(
                    types.TextDocumentIdentifier(shop), _at(edited, "common.Audit.;", 13)
                )
            )
        )
        assert isinstance(completions, types.CompletionList)
        assert sorted(item.label for item in completions.items) == ["check", "record"]
        completions = await session.answer(
            client.text_document_completion_async(
                types.CompletionParams(types.TextDocumentIdentifier(shop), _at(edited, "Carrt", 2))
            )
        )
        assert isinstance(completions, types.CompletionList)
        labels = {item.label for item in completions.items}
        assert {"Cart", "common.Money", "common.Coupon", "UserCart", "common.Audit"} <= labels
        assert {"int32", "google.protobuf.Timestamp"} <= labels
        cart = next(item for item in completions.items if item.label == "Cart")
        assert isinstance(cart.text_edit, types.TextEdit)
        assert cart.text_edit.range == types.Range(_at(edited, "Carrt"), _at(edited, "Carrt", 2))

        # Formatting leaves a text that does not parse as it is, and says why.
        edits = await session.answer(
            client.text_document_formatting_async(
                types.DocumentFormattingParams(
                    types.TextDocumentIdentifier(shop), types.FormattingOptions(2, True)
                )
            )
        )
        assert edits is None
        shown = await session.answer(session.messages.get())
        assert shown == "sfidl fmt: shop.sfidl was left as it is: expected a name, found `;`"

        # Document symbols: the outline of the shop.
        symbols = await session.answer(
            client.text_document_document_symbol_async(
                types.DocumentSymbolParams(types.TextDocumentIdentifier(shop))
            )
        )
        assert symbols is not None
        outline = [
            (s.name, [c.name for c in s.children or []])
            for s in symbols
            if isinstance(s, types.DocumentSymbol)
        ]
        assert outline == [
            ("Cart", ["total", "coupon"]),
            ("UserCart", ["cart", "pay", "checked", "add"]),
            ("adds", []),
        ]

        # Fixing both errors, in small edits as editors send them, clears the errors; the
        # program now checks, so its lint warnings come.
        completed = _at(edited, "common.Audit.;", 13)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(uri=shop, version=3),
                [
                    types.TextDocumentContentChangePartial(
                        types.Range(_at(edited, "Carrt"), _at(edited, "Carrt", 5)), "Cart"
                    ),
                    types.TextDocumentContentChangePartial(
                        types.Range(completed, completed), "record"
                    ),
                ],
            )
        )
        linted = await session.diagnostics_for(
            shop, lambda found: all(d.severity == types.DiagnosticSeverity.Warning for d in found)
        )
        assert [d.code for d in linted] == ["unbounded-state", "unreachable-handler"]

        # Formatting: `sfidl fmt` of the buffer, as one edit over the whole document.
        edits = await session.answer(
            client.text_document_formatting_async(
                types.DocumentFormattingParams(
                    types.TextDocumentIdentifier(shop), types.FormattingOptions(2, True)
                )
            )
        )
        fixed = SHOP.replace("Carrt", "Cart")
        end = types.Position(line=fixed.count("\n"), character=0)
        assert edits is not None and list(edits) == [
            types.TextEdit(
                types.Range(types.Position(0, 0), end), format_source(fixed, "shop.sfidl")
            )
        ]
        assert format_source(fixed, "shop.sfidl") != fixed

        # Closing `common` clears its warnings: the shop alone does not check it as a program.
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(common))
        )
        await session.diagnostics_for(common, lambda found: len(found) == 0)

        # A document never saved is checked too, under the URI the editor gave it.
        untitled = "untitled:Untitled-1"
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(
                    uri=untitled, language_id="sfidl", version=1, text="namespace x;\nmessage"
                )
            )
        )
        (problem,) = await session.diagnostics_for(untitled, lambda found: len(found) > 0)
        assert problem.message.startswith("expected a name")

        await session.answer(client.shutdown_async(None))
        client.exit(None)
        await asyncio.wait_for(client.stop(), DEADLINE)
    finally:
        server = client._server  # pygls keeps the process to itself; end it if still there
        if server is not None and server.returncode is None:
            server.kill()
            await server.wait()
    assert server is not None and server.returncode == 0


def test_an_editor_session(tmp_path: Path) -> None:
    asyncio.run(_session(tmp_path))
