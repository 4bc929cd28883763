"""The language server: LSP requests and notifications, answered from :mod:`programs`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from sfidl import __version__
from sfidl.diagnostics import CompileError
from sfidl.lsp import features
from sfidl.lsp.programs import Programs, Snapshot

# How long after an edit the documents are analysed again, unless a request comes first.
SETTLE_SECONDS = 0.1


class SfidlServer(LanguageServer):
    """A pygls server holding the open documents' programs."""

    def __init__(self) -> None:
        super().__init__(
            "sfidl", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental
        )
        self.programs = Programs()
        # The open documents' URIs as the client wrote them (an unsaved `untitled:` one
        # has no file path to make it from).
        self.uris: dict[Path, str] = {}
        self.pending: asyncio.TimerHandle | None = None  # the analysis after an edit

    def path(self, uri: str) -> Path:
        return Path(to_fs_path(uri) or uri).resolve()

    def publish(self) -> None:
        """Analyse every open document again and show the diagnostics of every file."""
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None
        codec = self.workspace.position_codec
        for path, found in self.programs.refresh().items():
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(
                    uri=self.uris.get(path) or from_fs_path(str(path)) or str(path),
                    diagnostics=[
                        features.diagnostic(d, found.text, codec) for d in found.diagnostics
                    ],
                )
            )

    def snapshot(self, path: Path) -> Snapshot | None:
        """What is known of the document's program, its latest edits included."""
        if self.pending is not None:
            self.publish()
        return self.programs.snapshot(path)

    def read(self, uri: str) -> None:
        """Take the document's text as it is now."""
        self.uris[self.path(uri)] = uri
        self.programs.set_text(self.path(uri), self.workspace.get_text_document(uri).source)

    def edited(self, uri: str) -> None:
        """Analyse a little later: one analysis for a burst of keystrokes, not one each."""
        self.read(uri)
        if self.pending is None:
            self.pending = asyncio.get_running_loop().call_later(SETTLE_SECONDS, self.publish)

    def closed(self, uri: str) -> None:
        self.programs.close(self.path(uri))
        self.publish()  # clears what only this document reached, then forgets its URI
        self.uris.pop(self.path(uri), None)


def create_server() -> SfidlServer:
    server = SfidlServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: SfidlServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.read(params.text_document.uri)
        ls.publish()

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: SfidlServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.edited(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: SfidlServer, params: types.DidSaveTextDocumentParams) -> None:
        # Files that are not open are read from the disk: a save may change what they see.
        ls.publish()

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: SfidlServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.closed(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: SfidlServer, params: types.HoverParams) -> types.Hover | None:
        path = ls.path(params.text_document.uri)
        snapshot = ls.snapshot(path)
        if snapshot is None:
            return None
        return features.hover(snapshot, path, params.position, ls.workspace.position_codec)

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: SfidlServer, params: types.DefinitionParams) -> types.Location | None:
        path = ls.path(params.text_document.uri)
        snapshot = ls.snapshot(path)
        if snapshot is None:
            return None
        return features.definition(snapshot, path, params.position, ls.workspace.position_codec)

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["."])
    )
    def completion(ls: SfidlServer, params: types.CompletionParams) -> types.CompletionList:
        path = ls.path(params.text_document.uri)
        text = ls.workspace.get_text_document(params.text_document.uri).source
        return features.completion(
            ls.snapshot(path), path, text, params.position, ls.workspace.position_codec
        )

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbol(
        ls: SfidlServer, params: types.DocumentSymbolParams
    ) -> list[types.DocumentSymbol] | None:
        path = ls.path(params.text_document.uri)
        snapshot = ls.snapshot(path)
        if snapshot is None or snapshot.index is None:
            return None
        return features.document_symbols(snapshot, path, ls.workspace.position_codec)

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def formatting(
        ls: SfidlServer, params: types.DocumentFormattingParams
    ) -> list[types.TextEdit] | None:
        document = ls.workspace.get_text_document(params.text_document.uri)
        path = ls.path(params.text_document.uri)
        try:
            return features.formatting(document.source, path, ls.workspace.position_codec)
        except CompileError as error:
            # The diagnostics show where; say why nothing changed.
            first = error.diagnostics[0].message if error.diagnostics else str(error)
            ls.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Warning,
                    message=f"sfidl fmt: {path.name} was left as it is: {first}",
                )
            )
            return None

    return server


def serve() -> None:
    """Serve one editor over standard input and output until it sends `exit`."""
    create_server().start_io()
