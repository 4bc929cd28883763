"""The parser's fast path (sfidl.lalr_driver) builds exactly what lark's parse and the tree walk
build, or stands aside: on every .sfidl file of the repository, on random edits of them, and
at any nesting depth."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sfidl import lalr_driver
from sfidl import parse as parse_module
from sfidl.parse import ParseResult, parse

REPO = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for p in REPO.rglob("*.sfidl") if ".venv" not in p.parts)


def with_lark(text: str, path: str, monkeypatch: pytest.MonkeyPatch) -> ParseResult:
    """What parse() gives with the fast path turned off."""
    with monkeypatch.context() as patch:

        def unsure(*args: object) -> ParseResult:
            raise lalr_driver.Unsure

        patch.setattr(parse_module, "_parse_fast", unsure)
        return parse(text, path)


def fast(text: str, path: str) -> ParseResult | None:
    """The fast path's result, None when it stood aside."""
    try:
        return parse_module._parse_fast(text, path)
    except lalr_driver.Unsure:
        return None


def test_every_file_of_the_repository_parses_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(SOURCES) > 20
    took = 0
    for source in SOURCES:
        text = source.read_text(encoding="utf-8", errors="replace")
        result = fast(text, str(source))
        expected = with_lark(text, str(source), monkeypatch)
        if result is None:
            assert expected.file is None, f"{source}: the fast path stood aside on a good file"
            continue
        took += 1
        assert result == expected, source
        assert parse(text, str(source)) == expected
    assert took > len(SOURCES) // 2  # the fast path is the one that runs


_LEXEME = re.compile(r'"[^"\n]*"|///[^\n]*|//[^\n]*|\w+|->|\S')
_VOCABULARY = (
    # keywords and words that start with one (the contextual lexer may split those)
    "message onion topics timeouts stateful emitsx of to max on oneof map repeated optional "
    "state rpc returns raises calls sends emits sets completes timer timeout carrying expire "
    "after write call function exclusive enum reserved error import endpoint kafka kinesis "
    "topic stream ingress egress for dead letters namespace brokers region true false migrate "
    "from x Foo"
).split() + [
    "5s", "10ms", "2min", "5", "-3", "0x1F", "1.5", "-2.5e3", ".5", "1e9", "007", "5sx",
    '"t"', '"a\\qb"', "///doc", "//c", "/* c */", ";", "{", "}", "=", "<", ">", ",", ".",
    ":", "(", ")", "->", "-", "\n",
]  # fmt: skip
_WORDS = [word for word in _VOCABULARY if word.isidentifier()]


@pytest.mark.parametrize("seed", range(4))
def test_random_edits_parse_the_same_or_go_to_lark(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in SOURCES]
    texts = [t for t in texts if len(t) < 20_000]
    agreed = 0
    for _ in range(200):
        lexemes = _LEXEME.findall(rng.choice(texts))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(lexemes) + 1)
            edit = rng.random()
            if edit < 0.5 and at < len(lexemes) and lexemes[at].isidentifier():
                # a keyword where a name stands (and the other way round) often stays valid
                lexemes[at] = rng.choice(_WORDS)
            elif edit < 0.6:
                lexemes.insert(at, rng.choice(_VOCABULARY))
            elif edit < 0.8 and at < len(lexemes):
                lexemes[at] = rng.choice(_VOCABULARY)
            elif at < len(lexemes):
                del lexemes[at]
        text = " ".join(lexemes)
        result = fast(text, "edited.sfidl")
        if result is not None:
            assert result == with_lark(text, "edited.sfidl", monkeypatch), text
            agreed += 1
    assert agreed > 5, agreed  # enough edits stay valid for the fast path to be tried


def test_a_keyword_prefix_of_a_word_is_left_to_lark(monkeypatch: pytest.MonkeyPatch) -> None:
    # Where a state takes `on` but no name, lark's contextual lexer reads `onion` as `on ion`.
    text = "namespace a;\nmessage M {}\nfunction F { onion(M); }\n"
    assert fast(text, "a.sfidl") is None
    assert parse(text, "a.sfidl") == with_lark(text, "a.sfidl", monkeypatch)


def test_any_nesting_depth_parses() -> None:
    depth = 1200  # beyond Python's recursion limit
    text = (
        "namespace a;\n"
        + "".join(f"message M{i} {{ enum E{i} {{ E{i}_A = 0; }} " for i in range(depth))
        + "int32 x = 1; "
        + "} " * depth
    )
    result = parse(text, "deep.sfidl")
    assert result.diagnostics == ()
    assert result.file is not None
    message, levels = result.file.messages[0], 1
    while message.messages:
        message, levels = message.messages[0], levels + 1
    assert levels == depth and message.fields[0].name.text == "x"


def test_a_parse_imports_no_lark_once_the_tables_are_cached(tmp_path: Path) -> None:
    script = (
        "import sys; from sfidl.parse import parse; "
        f"assert parse(open({str(REPO / 'examples/shop/shop.sfidl')!r}).read(), 's').file; "
        "print('lark' in sys.modules)"
    )
    env = {**os.environ, "SFIDL_CACHE_DIR": str(tmp_path)}

    def imported_lark() -> str:
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    assert imported_lark() == "True"  # the first run derives the tables from lark's parser
    assert imported_lark() == "False"
    (next((tmp_path / "parser").iterdir())).write_bytes(b"not a pickle")
    assert imported_lark() == "True"  # a broken cache entry is derived again, no error


def test_the_scan_tries_a_terminal_early_only_past_those_that_cannot_start_where_it_does() -> None:
    order = lalr_driver._scanning_order
    # A word cannot start like a number or a comment, nor a comment like a number.
    terminals = [("NUM", r"-?\d+", True), ("C", r"//[^\n]*", True), ("W", r"[^\W\d]\w*", True)]
    assert order(terminals) == ["W", "C", "NUM"]
    # \w starts with digits too: the number stays ahead of it.
    assert order([("NUM", r"\d+", True), ("W", r"\w+", True)]) == ["NUM", "W"]
    # Strings (keywords, punctuation) keep their place; so does what starts with nothing known.
    assert order([("NUM", r"\d+", True), ("ARROW", "->", False)]) == ["NUM", "ARROW"]
    assert order([("NUM", r"\d+", True), ("ANY", r".", True), ("W", r"[a-z]+", True)]) == [
        "NUM",
        "ANY",
        "W",
    ]
    assert order([("OPT", r"a?", True), ("W", r"[b-z]+", True)]) == ["OPT", "W"]  # may be empty
    # Inline flags: (?i)b also starts with B, which the word can: the word stays behind.
    assert order([("B", r"(?i)b", True), ("W", r"[A-Z]+", True)]) == ["B", "W"]
