"""`sfidl fmt`: the canonical layout, comments kept, idempotent, the meaning unchanged.

Meaning is what the front end makes of a file: the checked model (positions left out) and
its warnings, or the same error messages for a file that does not check. Both are compared
before and after formatting, over every example, every diagnostics case and the property
tests' corpus (tests/test_compile_fuzz.py's valid programs and mutated sources), with
comments sprinkled between any two tokens.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfidl.cli import main
from sfidl.diagnostics import CompileError, Span
from sfidl.frontend import load_program
from sfidl.tools import fmt_print
from sfidl.tools.fmt import _tokens, format_file, format_source
from tests.golden import assert_golden
from tests.test_compile_fuzz import _folder, _program, _seed_and_mutation, _settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(ROOT.glob("examples/*/*.sfidl"))
# The diagnostics cases (tests/cases/ with an expected.txt) whose root is main.sfidl.
CASES = sorted(
    p.parent / "main.sfidl"
    for p in ROOT.glob("tests/cases/*/expected.txt")
    if (p.parent / "main.sfidl").is_file()
)
FMT = ROOT / "tests" / "fmt"


def _parses(path: Path) -> bool:
    try:
        format_file(path)
    except CompileError:
        return False
    return True


# The examples and the diagnostics cases that parse: where comments are sprinkled.
PARSED = [p for p in EXAMPLES + CASES if _parses(p)]


def _without_spans(value: Any) -> Any:
    if isinstance(value, Span):
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return (type(value).__name__, tuple(_without_spans(getattr(value, f.name)) for f in fields))
    if isinstance(value, tuple):
        return tuple(_without_spans(v) for v in value)
    return value


def _meaning(path: Path) -> Any:
    """The model and warnings of the program at ``path``, or its error messages."""
    try:
        loaded = load_program(path)
    except CompileError as error:
        return "errors", [_unplaced(d.message) for d in error.diagnostics]
    return "ok", _without_spans(loaded.program), [_unplaced(w.message) for w in loaded.warnings]


def _unplaced(message: str) -> str:
    """A message without the positions it cites (``main.sfidl:17:43``, ``line 3``, the byte
    ``offset 22`` of a text that is not UTF-8)."""
    return re.sub(r"\d+:\d+|line \d+|offset \d+", "<place>", message)


def _assert_formatting_keeps_meaning(path: Path, text: str) -> str:
    """Format ``text`` (the file at ``path``, its imports beside it): idempotent, same
    comments in the same order, same meaning. Returns the formatted text."""
    formatted = format_source(text, str(path))
    assert format_source(formatted, str(path)) == formatted, "fmt of fmt is not fmt"
    assert [c.strip() for c in _comments(formatted)] == [c.strip() for c in _comments(text)]
    # surrogatepass: a lone surrogate drawn by hypothesis stays bytes that are not UTF-8.
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    before = _meaning(path)
    path.write_text(formatted, encoding="utf-8", errors="surrogatepass")
    assert _meaning(path) == before, f"the meaning changed:\n{text}\n---\n{formatted}"
    return formatted


def _comments(text: str) -> list[str]:
    return [str(c) for c in _tokens(text.replace("\r\n", "\n")).comments]


def _copy_folder(seed: Path, folder: Path) -> Path:
    """The seed's folder (its imports) copied into ``folder``; the seed's new path."""
    for source in seed.parent.glob("**/*.sfidl"):
        target = folder / source.relative_to(seed.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return folder / seed.name


# ---------------------------------------------------------------- the examples


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_formatted(example: Path) -> None:
    text = example.read_text(encoding="utf-8")
    assert format_source(text, str(example)) == text, f"run: sfidl fmt {example}"


def test_fmt_check_passes_on_the_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fmt", "--check", *map(str, EXAMPLES)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("seed", EXAMPLES + CASES, ids=lambda p: p.parent.name)
def test_fmt_keeps_the_meaning_of_every_example_and_case(seed: Path, tmp_path: Path) -> None:
    target = _copy_folder(seed, tmp_path)
    try:
        text = seed.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        with pytest.raises(CompileError, match="it is not UTF-8 text"):
            format_file(target)
        return
    try:
        _assert_formatting_keeps_meaning(target, text)
    except CompileError as error:
        # Only a case about a file that does not parse may be refused.
        assert seed in CASES, error
        with pytest.raises(CompileError) as again:
            load_program(target)
        assert [d.message for d in again.value.diagnostics][:1] == [
            d.message for d in error.diagnostics
        ][:1]


# ---------------------------------------------------------------- the property-test corpus


@_settings(20)
@given(_program())
def test_fmt_keeps_the_meaning_of_valid_programs(text: str) -> None:
    with _folder() as folder:
        _assert_formatting_keeps_meaning(folder / "main.sfidl", text)


@_settings(200)
@given(_seed_and_mutation())
def test_fmt_keeps_the_meaning_of_mutated_sources_or_refuses_to_parse(
    case: tuple[Path, str],
) -> None:
    seed, text = case
    with _folder() as folder:
        target = _copy_folder(seed, folder)
        try:
            formatted = format_source(text, str(target))
        except CompileError as error:
            assert error.diagnostics
            return
        _assert_formatting_keeps_meaning(target, text)
        assert formatted.endswith("\n") and not formatted.endswith("\n\n")


_COMMENTS = [
    " // trailing {i}\n",
    "\n// own line {i}\n",
    "\n\n// after a blank line {i}\n\n",
    " /* inline {i} */ ",
    "/*{i}*/",
    "\n/* block {i}\n   over lines */\n",
    "\n/// doc {i}\n",
    " /// trailing doc {i}\n",
]


@st.composite
def _with_comments(draw: st.DrawFn) -> tuple[Path, str]:
    """An example or case with comments put between tokens at random."""
    seed = draw(st.sampled_from(PARSED))
    text = seed.read_text(encoding="utf-8")
    tokens = list(_tokens(text).tree.scan_values(lambda _: True))
    ends = sorted({t.end_pos or 0 for t in tokens})
    chosen = draw(st.lists(st.sampled_from(ends), min_size=1, max_size=8, unique=True))
    for i, offset in enumerate(sorted(chosen, reverse=True)):
        comment = draw(st.sampled_from(_COMMENTS)).format(i=i)
        text = text[:offset] + comment + text[offset:]
    return seed, text


@_settings(80)
@given(_with_comments())
def test_fmt_keeps_every_comment_in_order_wherever_it_is(case: tuple[Path, str]) -> None:
    seed, text = case
    with _folder() as folder:
        _assert_formatting_keeps_meaning(_copy_folder(seed, folder), text)


# ---------------------------------------------------------------- the layout


def test_a_messy_file_gets_the_canonical_layout() -> None:
    """Every construct of the grammar, with comments in awkward places (golden output)."""
    text = (FMT / "input.sfidl").read_text(encoding="utf-8")
    formatted = format_source(text, "input.sfidl")
    assert_golden(FMT / "expected.sfidl", formatted)
    assert format_source(formatted, "input.sfidl") == formatted


def test_a_member_that_fits_stays_on_one_line_and_a_long_one_breaks_per_effect() -> None:
    text = (
        "namespace a;\nfunction F {\n"
        "  on short(M)   sends G.x ;\n"
        "  on long(M) calls (G.a, G.b) -> both carrying M timeout 5s, G.a -> one sends G.x emits e;\n"
        "}\n"
    )
    assert format_source(text, "a.sfidl") == (
        "namespace a;\n\nfunction F {\n"
        "  on short(M) sends G.x;\n"
        "  on long(M)\n"
        "      calls (G.a, G.b) -> both carrying M timeout 5s,\n"
        "            G.a -> one\n"
        "      sends G.x\n"
        "      emits e;\n"
        "}\n"
    )


def test_a_comment_inside_a_member_breaks_it_and_stays_in_place() -> None:
    text = "namespace a;\nfunction F { on h(M) sends G.x /* why */ emits e; }\n"
    assert format_source(text, "a.sfidl") == (
        "namespace a;\n\nfunction F {\n  on h(M)\n      sends G.x /* why */\n      emits e;\n}\n"
    )


def test_blank_lines_are_kept_once_and_never_next_to_braces() -> None:
    text = "namespace a;\nmessage M {\n\n\n  int32 a = 1;\n\n\n\n  int32 b = 2;\n\n}\n"
    assert format_source(text, "a.sfidl") == (
        "namespace a;\n\nmessage M {\n  int32 a = 1;\n\n  int32 b = 2;\n}\n"
    )


def test_crlf_and_a_byte_order_mark_become_plain_lines() -> None:
    text = "\ufeffnamespace a;\r\n// c\r\nmessage M {}\r\n"
    assert format_source(text, "a.sfidl") == "namespace a;\n\n// c\nmessage M {}\n"


def test_a_file_that_does_not_parse_raises_the_parse_diagnostics() -> None:
    with pytest.raises(CompileError) as raised:
        format_source("namespace a;\nmessage X { int32 y = 1 }\n", "bad.sfidl")
    assert "bad.sfidl:2:25: error[unexpected-token]: expected `;`" in raised.value.render()


def test_a_bad_escape_is_an_error_too() -> None:
    with pytest.raises(CompileError) as raised:
        format_source('namespace a;\nendpoint "\\q";\n', "bad.sfidl")
    assert "unknown escape" in raised.value.render()


# ---------------------------------------------------------------- the command

MESSY = "namespace a;\nmessage M {int32 x = 1;}\n"
CLEAN = "namespace a;\n\nmessage M {\n  int32 x = 1;\n}\n"


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["fmt", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_fmt_rewrites_files_in_place(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    messy, clean = tmp_path / "messy.sfidl", tmp_path / "clean.sfidl"
    messy.write_text(MESSY)
    clean.write_text(CLEAN)
    before = clean.stat().st_mtime_ns
    code, out, err = _run(capsys, messy, clean)
    assert (code, out, err) == (0, "", f"reformatted {messy}\n")
    assert messy.read_text() == CLEAN
    assert clean.stat().st_mtime_ns == before  # a formatted file is not rewritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.sfidl", "messy.sfidl"]


def test_fmt_check_writes_nothing_and_fails_on_an_unformatted_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    messy, clean = tmp_path / "messy.sfidl", tmp_path / "clean.sfidl"
    messy.write_text(MESSY)
    clean.write_text(CLEAN)
    code, out, err = _run(capsys, "--check", messy, clean)
    assert code == 1
    assert err == f"would reformat {messy}\nsfidl: 1 of 2 file(s) not formatted\n"
    assert messy.read_text() == MESSY
    assert _run(capsys, "--check", clean) == (0, "", "")


def test_fmt_diff_prints_the_change_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    messy = tmp_path / "messy.sfidl"
    messy.write_text(MESSY)
    code, out, err = _run(capsys, "--diff", messy)
    assert code == 0
    assert f"--- {messy} (original)\n+++ {messy} (formatted)\n" in out
    assert "-message M {int32 x = 1;}\n+\n+message M {\n+  int32 x = 1;\n+}\n" in out
    assert messy.read_text() == MESSY


def test_fmt_leaves_a_bad_file_untouched_and_formats_the_others(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad, messy = tmp_path / "bad.sfidl", tmp_path / "messy.sfidl"
    bad.write_text("namespace a;\nmessage X { int32 y = 1 }\n")
    messy.write_text(MESSY)
    code, out, err = _run(capsys, bad, messy, tmp_path / "missing.sfidl")
    assert code == 1
    assert f"{bad}:2:25: error[unexpected-token]: expected `;`" in err
    assert f"cannot read `{tmp_path / 'missing.sfidl'}`: No such file" in err
    assert "Traceback" not in err
    assert bad.read_text() == "namespace a;\nmessage X { int32 y = 1 }\n"
    assert messy.read_text() == CLEAN


def test_fmt_reports_a_file_that_is_not_utf8(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "latin1.sfidl"
    path.write_bytes(b"namespace a; // caf\xe9\n")
    code, _, err = _run(capsys, path)
    assert code == 1
    assert "it is not UTF-8 text (invalid byte 0xE9 at offset 19)" in err
    assert path.read_bytes() == b"namespace a; // caf\xe9\n"


def test_a_formatter_that_would_lose_a_comment_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check before returning: a layout that dropped a comment is never written."""
    from sfidl.tools import fmt

    def lossy(text: str, items: Any, comments: Any) -> str:
        return fmt_print.render(text, items, comments[1:])

    monkeypatch.setattr(fmt, "render", lossy)
    with pytest.raises(CompileError) as raised:
        format_source("namespace a; // one\n// two\nmessage M {}\n", "a.sfidl")
    assert raised.value.render().startswith(
        "a.sfidl:1:14: error[fmt-failed]: sfidl fmt leaves this file as it is: "
        "it cannot keep this comment in its place\n"
    )


def test_a_formatter_that_would_move_a_doc_comment_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """A doc comment moved off its declaration changes the generated code: refused."""
    from sfidl.tools import fmt

    def detaching(text: str, items: Any, comments: Any) -> str:
        # The same tokens and comments, the doc comment no longer before its declaration.
        return fmt_print.render(text, items, comments).replace("/// M\nmessage", "message /// M\n")

    monkeypatch.setattr(fmt, "render", detaching)
    with pytest.raises(CompileError) as raised:
        format_source("namespace a;\n/// M\nmessage M {}\n", "a.sfidl")
    assert raised.value.render().startswith(
        "a.sfidl:2:1: error[fmt-failed]: sfidl fmt leaves this file as it is: "
        "it cannot keep this comment in its place\n"
    )
