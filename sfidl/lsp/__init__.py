"""`sfidl lsp`: a language server for .sfidl files (pygls), over standard input and output.

- :mod:`sfidl.lsp.programs`: the open documents, each analysed as the root of its program
  from the editor's unsaved text, and the diagnostics of every file they reach.
- :mod:`sfidl.lsp.features`: hover, definition, completion and document symbols from the
  program's :class:`sfidl.index.Index`; formatting through `sfidl fmt`
  (:func:`sfidl.tools.fmt.format_source`).
- :mod:`sfidl.lsp.positions`: sfidl spans and LSP ranges (which count UTF-16 units).
- :mod:`sfidl.lsp.server`: the protocol: which request is answered by what.
"""
