"""Lint from the command line and over the examples (the rules themselves: tests/cases/lint_*)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfidl.check.lint import RULE_IDS, RULES
from sfidl.cli import main
from sfidl.frontend import analyze, load_program

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*/*.sfidl"))

NOISY = """\
namespace noisy;

message Ask {}
message Answer {}
message Unused {}

function Oracle {
  rpc answer(Ask) returns Answer;
}

function Asker {
  on ask(Ask) calls Oracle.answer -> answered timeout 1s;
  /// Documented: the suppression may sit above the doc comment.
  // sfidl:allow-lint unreachable-handler replayed by hand
  on replay(Answer);
}

ingress asks: kafka topic "asks" of Ask -> Asker.ask;
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def test_every_rule_has_an_id_a_reason_and_a_golden_case() -> None:
    cases = Path(__file__).parent / "cases"
    for rule in RULES:
        assert rule.id and rule.reason and "\n" not in rule.reason
        naming = rule.id in ("pascal-case", "snake-case", "enum-value-name")
        folder = cases / ("lint_naming" if naming else "lint_" + rule.id.replace("-", "_"))
        assert f"warning[{rule.id}]" in (folder / "expected.txt").read_text(), rule.id
        suppressed = (folder.parent / f"{folder.name}_suppressed" / "main.sfidl").read_text()
        assert f"sfidl:allow-lint {rule.id} " in suppressed, rule.id


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_the_examples_are_lint_clean(example: Path) -> None:
    assert load_program(example, RULE_IDS).warnings == ()


def test_check_lints_by_default_and_lint_never_fails_a_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("noisy.sfidl").write_text(NOISY)
    code, err = run(capsys, "check", "noisy.sfidl")
    assert code == 0
    assert "noisy.sfidl:5:9: warning[unused-message]: message `Unused` is never used" in err
    assert "warning[unreachable-handler]: nothing reaches `Oracle.answer`" not in err  # called
    assert "Asker.replay" not in err  # suppressed
    assert err.endswith("sfidl: 1 file(s) OK, 1 warning\n")

    assert run(capsys, "check", "--lint", "none", "noisy.sfidl") == (0, "sfidl: 1 file(s) OK\n")
    code, err = run(capsys, "check", "--lint", "call-timeout,snake-case", "noisy.sfidl")
    assert (code, err) == (0, "sfidl: 1 file(s) OK\n")

    # compile does not lint unless asked: a build log shows what breaks the build.
    code, err = run(capsys, "compile", "noisy.sfidl", "-o", "out")
    assert code == 0 and "warning[" not in err
    code, err = run(capsys, "compile", "--lint", "all", "noisy.sfidl", "-o", "out")
    assert code == 0 and "warning[unused-message]" in err


def test_an_unknown_rule_on_the_command_line_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["check", "--lint", "unused-message,no-such-rule", str(tmp_path / "x.sfidl")])
    assert exit.value.code == 2
    assert "no-such-rule is not a lint rule; use all, none or some of unused-message" in (
        capsys.readouterr().err
    )


def test_analyze_returns_lint_warnings_unless_told_not_to(tmp_path: Path) -> None:
    path = tmp_path / "noisy.sfidl"
    path.write_text(NOISY)
    assert [d.code for d in analyze(path).diagnostics] == ["unused-message"]
    assert analyze(path, lints=()).diagnostics == ()


def test_a_doc_comment_is_not_a_suppression(tmp_path: Path) -> None:
    path = tmp_path / "noisy.sfidl"
    path.write_text(
        NOISY.replace(
            "message Unused {}", "/// sfidl:allow-lint unused-message x\nmessage Unused {}"
        )
    )
    assert [d.code for d in analyze(path).diagnostics] == ["unused-message"]


def test_sfidl_breaking_leaves_lint_suppressions_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`// sfidl:allow-lint` is not `sfidl breaking`'s `// sfidl:allow RULE`."""
    shop = next(e for e in EXAMPLES if e.stem == "shop")
    assert "// sfidl:allow-lint " in shop.read_text()
    code, err = run(capsys, "breaking", str(shop), "--against", str(shop))
    assert code == 0, err
