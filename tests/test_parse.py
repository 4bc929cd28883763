"""The parser: the AST it builds (docs, literals, spans) and its parse errors in words."""

from __future__ import annotations

import pytest

from sfidl import ast
from sfidl.diagnostics import Span
from sfidl.parse import parse


def parsed(text: str) -> ast.File:
    result = parse(text, "x.sfidl")
    assert result.diagnostics == ()
    assert result.file is not None
    return result.file


def error(text: str) -> tuple[int, int, str]:
    result = parse(text, "x.sfidl")
    assert result.file is None
    (diagnostic,) = result.diagnostics
    return diagnostic.span.line, diagnostic.span.column, diagnostic.message


def test_doc_comments_attach_to_the_next_declaration() -> None:
    file = parsed(
        "/// The file.\n///\n///   indented\nnamespace a;\n\n"
        "/// First line.\n///Second line.\n\nmessage M {\n  /// A field.\n  string a = 1;\n"
        "  //// not a doc comment\n  string b = 2;\n  /// documents nothing\n}\n"
        "message N {}\n"
    )
    assert file.doc == "The file.\n\n  indented"
    m, n = file.messages
    assert m.doc == "First line.\nSecond line."
    assert [f.doc for f in m.fields] == ["A field.", ""]
    assert n.doc == ""


def test_a_line_comment_between_doc_and_declaration_detaches_the_doc() -> None:
    file = parsed("namespace a;\n/// Lost.\n// plain\nmessage M {}\n")
    assert file.messages[0].doc == ""


def test_keywords_are_names_where_a_name_is_expected() -> None:
    file = parsed("namespace a;\nmessage M { string to = 1; int32 max = 2; bool message = 3; }\n")
    assert [f.name.text for f in file.messages[0].fields] == ["to", "max", "message"]


@pytest.mark.parametrize(
    "keyword",
    ["calls", "sends", "emits", "sets", "completes", "raises", "expire", "timeout", "exclusive"],
)
@pytest.mark.parametrize("type_name", ["string", "M", "a.M.N"])
def test_a_field_may_be_named_like_a_keyword_that_follows_a_type_elsewhere(
    keyword: str, type_name: str
) -> None:
    file = parsed(
        f"namespace a;\nmessage M {{ message N {{}} {type_name} {keyword} = 1;"
        f" repeated {type_name} {keyword}s = 2; oneof o {{ {type_name} {keyword}_ = 3; }} }}\n"
    )
    message = file.messages[0]
    assert [f.name.text for f in message.fields] == [keyword, keyword + "s"]
    assert message.fields[0].type.text == type_name
    assert message.oneofs[0].fields[0].name.text == keyword + "_"


def test_literals_durations_and_effects() -> None:
    file = parsed(
        "namespace a;\nfunction F {\n"
        '  state s: string = "q\\"\\n" expire after call 2min;\n'
        "  state h: int64 = -0x10;\n  state d: double = -1.5e3;\n"
        "  on x(M) calls (A.b, c.D.e) -> j timeout 250ms, A.b -> k carrying M timeout 2d\n"
        "      sends A.c emits out;\n}\n"
    )
    (function,) = file.functions
    s, h, d = function.states
    assert s.default is not None and s.default.value == 'q"\n'
    assert s.expiry is not None and (s.expiry.mode, s.expiry.duration.millis) == ("call", 120_000)
    assert h.default is not None and h.default.value == -16
    assert d.default is not None and d.default.value == -1500.0
    (handler,) = function.handlers
    join, single = handler.calls
    assert join.is_join and [t.text for t in join.targets] == ["A.b", "c.D.e"]
    assert join.targets[1].function.parts == ("c", "D")
    assert join.timeout is not None and join.timeout.millis == 250
    assert not single.is_join and single.carrying is not None and single.carrying.text == "M"
    assert single.timeout is not None and single.timeout.millis == 2 * 86_400_000
    assert [r.text for r in handler.sends] == ["A.c"]
    assert [e.text for e in handler.emits] == ["out"]


def test_exclusive_functions_timers_set_and_replies_completed() -> None:
    file = parsed(
        "namespace a;\n/// Doc.\nexclusive function F {\n"
        "  rpc r(M) returns M sets t completes r, q;\n"
        "  timer t(M) completes r sets t emits out;\n}\nfunction G {}\n"
    )
    f, g = file.functions
    assert f.exclusive and not g.exclusive and f.doc == "Doc."
    (handler,) = f.handlers
    assert [n.text for n in handler.sets] == ["t"]
    assert [n.text for n in handler.completes] == ["r", "q"]
    (timer,) = f.timers
    assert [n.text for n in timer.completes] == ["r"] and [n.text for n in timer.sets] == ["t"]
    assert [n.text for n in timer.emits] == ["out"]


def test_spans_are_one_based_with_exclusive_ends() -> None:
    file = parsed("namespace a;\nmessage Cart {\n  string id = 12;\n}\n")
    field = file.messages[0].fields[0]
    assert field.name.span == Span("x.sfidl", 3, 10, 3, 12)
    assert field.number_span == Span("x.sfidl", 3, 15, 3, 17)
    assert file.messages[0].name.span == Span("x.sfidl", 2, 9, 2, 13)


def test_reserved_and_oneof() -> None:
    file = parsed(
        'namespace a;\nmessage M { reserved 1, 3 to 5, 9 to max; reserved "x";'
        " oneof o { string a = 2; } }\n"
    )
    (message,) = file.messages
    items = [i for r in message.reserved for i in r.items]
    assert [(i.start, i.end) for i in items if isinstance(i, ast.ReservedRange)] == [
        (1, 1),
        (3, 5),
        (9, None),
    ]
    assert [i.name for i in items if isinstance(i, ast.ReservedName)] == ["x"]
    assert message.oneofs[0].fields[0].name.text == "a"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (1, 1, "expected `namespace` as the first statement, found the end of the file")),
        ("namespace a", (1, 12, "expected `;` after the namespace, found the end of the file")),
        (
            "namespace a;\nmessage M {\n  string a = 1\n}\n",
            (3, 15, "expected `;` after the field declaration, found `}`"),
        ),
        (
            "namespace a;\nmessage M { string = 1; }",
            (2, 20, "expected a field name, found `=`"),
        ),
        (
            "namespace a;\nmessage M { message N { string a = 1 } }",
            (2, 38, "expected `;` after the field declaration, found `}`"),
        ),
        ("namespace a;\nfunction F { on a(); }", (2, 19, "expected a type name, found `)`")),
        (
            "namespace a;\nfunction F { rpc a(M); }",
            (
                2,
                22,
                "expected `returns` and the reply type after the request of an `rpc`, found `;`",
            ),
        ),
        (
            "namespace a;\nfunction F { on a(M) sends A; }",
            (2, 29, "expected `Function.handler`, found `;`"),
        ),
        (
            'namespace a;\nendpoint "x',
            (2, 10, 'unterminated string (a string ends with `"` on the same line)'),
        ),
        ("namespace a;\n/* x", (2, 1, "unterminated comment (`/*` without `*/`)")),
        (
            "namespace a;\nmessage M {} }",
            (
                2,
                14,
                "expected a declaration (`message`, `error`, `enum`, `function`, `ingress`, `egress`, `import`), found `}`",
            ),
        ),
        ("namespace a;\nmessage M { string a = 1; ?", (2, 27, "unexpected character `?`")),
        ("namespace a;\n\x00", (2, 1, "unexpected character U+0000")),
        ("namespace a;\n\u2028", (2, 1, "unexpected character U+2028")),
        (
            "namespace a;\nmessage M {}\n\n{",
            (
                4,
                1,
                "expected a declaration (`message`, `error`, `enum`, `function`, `ingress`, `egress`, `import`), found `{`",
            ),
        ),
        (
            'namespace a;\nimport "b.sfidl";\n}',
            (
                3,
                1,
                "expected a declaration (`message`, `error`, `enum`, `function`, `ingress`, `egress`, `import`), found `}`",
            ),
        ),
    ],
)
def test_parse_errors_in_words(text: str, expected: tuple[int, int, str]) -> None:
    assert error(text) == expected


def test_no_lark_terminal_names_leak_into_messages() -> None:
    texts = [
        "namespace a; message",
        "namespace a; message M { map<",
        "namespace a; function F { state s: int32 = ",
        "namespace a; ingress i: kafka topic",
        'namespace a; egress e: kafka topic "x" of M',
        "namespace a; function F { on a(M) calls A.b -> c carrying",
        "namespace a; enum E { A = }",
    ]
    for text in texts:
        (diagnostic,) = parse(text, "x.sfidl").diagnostics
        for terminal in ("NAME", "SIGNED_INT", "STRING", "LBRACE", "SEMICOLON", "$END", "__"):
            assert terminal not in diagnostic.message, diagnostic.message


def test_a_bad_escape_is_reported_with_the_tree() -> None:
    result = parse('namespace a;\nendpoint "a\\qb";\n', "x.sfidl")
    assert result.file is not None
    (diagnostic,) = result.diagnostics
    assert (diagnostic.span.line, diagnostic.span.column) == (2, 12)
    assert diagnostic.message == "unknown escape `\\q` in a string"
