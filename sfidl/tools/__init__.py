"""Tools around the language, each behind one `sfidl` command: fmt, graph, init."""
