"""`sfidl breaking`: one before/after fixture pair per rule, the options, the formats, git.

Each folder tests/breaking/<RULE_ID>/ holds old.sfidl, new.sfidl and expected.txt, the
report (refreshed with SFIDL_UPDATE_GOLDENS=1, see tests/golden.py).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from sfidl.breaking import RULES
from sfidl.cli import main
from sfidl.diagnostics import Severity
from tests.golden import assert_golden

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "breaking"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
BY_ID = {rule.id: rule for rule in RULES}


def _breaking(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["breaking", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_every_rule_has_a_fixture_pair_and_a_unique_id() -> None:
    assert len(BY_ID) == len(RULES)
    assert CASES == sorted(BY_ID)


@pytest.mark.parametrize("rule_id", CASES)
def test_fixture_pair(
    rule_id: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(FIXTURES / rule_id)
    code, out, _ = _breaking(capsys, "new.sfidl", "--against", "old.sfidl")
    assert f"[{rule_id}]" in out, out
    flagged = set(re.findall(r"^\S+ (?:error|warning)\[([A-Z_]+)\]: ", out, re.M))
    breaks = any(BY_ID[i].severity is Severity.ERROR for i in flagged)
    assert code == (1 if breaks else 0)
    assert_golden(FIXTURES / rule_id / "expected.txt", out)
    # Comparing a version with itself finds nothing.
    assert _breaking(capsys, "new.sfidl", "--against", "new.sfidl")[0] == 0


# ---------------------------------------------------------------- suppressions and categories

_OLD = FIXTURES / "STATE_TYPE" / "old.sfidl"


def _new_state_type(tmp_path: Path, comment: str) -> Path:
    """STATE_TYPE's new version with ``comment`` above the changed state."""
    text = (FIXTURES / "STATE_TYPE" / "new.sfidl").read_text()
    line = "  state count: int64 = 0;"
    assert line in text
    path = tmp_path / "new.sfidl"
    path.write_text(text.replace(line, comment + line))
    return path


def test_an_allow_comment_with_a_reason_accepts_the_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for comment in (
        "  // sfidl:allow STATE_TYPE nothing was deployed yet\n",
        "  /// The count.\n  // sfidl:allow STATE_TYPE, FIELD_JSON_NAME: counts restart from zero\n",
    ):
        new = _new_state_type(tmp_path, comment)
        code, out, _ = _breaking(capsys, str(new), "--against", str(_OLD))
        assert code == 0
        assert out.endswith("sfidl breaking: no breaking changes, 1 allowed by sfidl:allow\n")
    code, out, _ = _breaking(capsys, str(new), "--against", str(_OLD), "--format", "json")
    assert (code, json.loads(out)["allowed"]) == (
        0,
        [{"rule": "STATE_TYPE", "file": str(new), "line": 9, "reason": "counts restart from zero"}],
    )
    # At the end of the line it covers that line.
    text = new.read_text().replace(
        "  state count: int64 = 0;", "  state count: int64 = 0;  // sfidl:allow STATE_TYPE ok"
    )
    new.write_text(
        text.replace("  // sfidl:allow STATE_TYPE, FIELD_JSON_NAME: counts", "  // counts")
    )
    assert _breaking(capsys, str(new), "--against", str(_OLD)) == (
        0,
        "sfidl breaking: no breaking changes, 1 allowed by sfidl:allow\n",
        "",
    )
    # An allow for another rule, or on another line, accepts nothing.
    new = _new_state_type(
        tmp_path, "  // sfidl:allow STATE_DEFAULT not this one\n\n  state other: int32;\n"
    )
    code, out, _ = _breaking(capsys, str(new), "--against", str(_OLD))
    assert code == 1 and "[STATE_TYPE]" in out


def test_an_allow_that_accepts_nothing_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = _new_state_type(
        tmp_path, "  // sfidl:allow STATE_TYPE, FIELD_JSON_NAME: counts restart\n"
    )
    code, out, _ = _breaking(capsys, str(new), "--against", str(_OLD))
    assert code == 0
    assert out == (
        f"{new}:7:3: warning[unused-allow]: `sfidl:allow FIELD_JSON_NAME` accepts nothing here\n"
        " 7 |   // sfidl:allow STATE_TYPE, FIELD_JSON_NAME: counts restart\n"
        "   |   " + "^" * 58 + "\n"
        "  = hint: remove it once the change it accepted is deployed (or move it to the line it means)\n"
        "sfidl breaking: no breaking changes, 1 allowed by sfidl:allow\n"
    )
    code, out, _ = _breaking(capsys, str(new), "--against", str(_OLD), "--format", "json")
    assert json.loads(out)["unused_allows"] == [
        {"rule": "FIELD_JSON_NAME", "file": str(new), "line": 7}
    ]
    code, out, _ = _breaking(capsys, str(new), "--against", str(_OLD), "--format", "github")
    assert out.splitlines()[0] == (
        f"::warning file={new},line=7,col=3::`sfidl:allow FIELD_JSON_NAME` accepts nothing here"
    )
    # Not when its category is not checked.
    code, out, _ = _breaking(capsys, str(new), "--against", str(_OLD), "--except", "JSON")
    assert out == "sfidl breaking: no breaking changes, 1 allowed by sfidl:allow\n"


@pytest.mark.parametrize(
    ("comment", "error"),
    [
        ("// sfidl:allow STATE_TYPE", "`sfidl:allow STATE_TYPE` gives no reason"),
        ("// sfidl:allow STATE_TYPE:  ", "`sfidl:allow STATE_TYPE` gives no reason"),
        ("// sfidl:allow STATE_TYPO because", "`sfidl:allow` names an unknown rule `STATE_TYPO`"),
        ("// sfidl:allow because", "`sfidl:allow` names no rule"),
    ],
)
def test_a_malformed_allow_comment_is_an_error_at_the_comment(
    comment: str, error: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = _new_state_type(tmp_path, f"  {comment}\n")
    code, out, err = _breaking(capsys, str(new), "--against", str(_OLD))
    assert (code, out) == (2, "")
    assert f"{new}:7:3: error[bad-allow]: {error}\n 7 |   {comment}\n   |   ^^^" in err


def test_categories_choose_the_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new, old = FIXTURES / "STATE_TYPE" / "new.sfidl", str(_OLD)
    assert _breaking(capsys, str(new), "--against", old, "--categories", "WIRE,CALLS")[0] == 0
    assert _breaking(capsys, str(new), "--against", old, "--categories", "state")[0] == 1
    assert _breaking(capsys, str(new), "--against", old, "--except", "STATE")[0] == 0
    assert _breaking(capsys, str(new), "--against", old, "--except", "JSON,IO")[0] == 1
    with pytest.raises(SystemExit) as exited:
        main(["breaking", str(new), "--against", old, "--except", "STATES"])
    assert exited.value.code == 2
    assert "unknown category 'STATES' (one of WIRE, JSON, TYPENAME, STATE, CALLS, IO)" in (
        capsys.readouterr().err
    )


# ---------------------------------------------------------------- formats and bad input


def test_json_format(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(FIXTURES / "STATE_TYPE")
    code, out, err = _breaking(capsys, "new.sfidl", "--against", "old.sfidl", "--format", "json")
    assert code == 1
    assert err == "sfidl breaking: 1 breaking change, 0 warnings\n"
    rule = BY_ID["STATE_TYPE"]
    assert json.loads(out) == {
        "breaking": True,
        "findings": [
            {
                "rule": "STATE_TYPE",
                "category": "STATE",
                "severity": "error",
                "file": "new.sfidl",
                "line": 7,
                "column": 9,
                "end_line": 7,
                "end_column": 14,
                "message": "the state `Counter.count` changed type from "
                "`io.statefun.types/int` to `io.statefun.types/long`",
                "old": {"file": "old.sfidl", "line": 7, "column": 9},
                "reason": rule.reason,
                "fix": rule.fix,
            }
        ],
        "allowed": [],
        "unused_allows": [],
    }


def test_github_format(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(FIXTURES / "STATE_DEFAULT")
    code, out, _ = _breaking(capsys, "new.sfidl", "--against", "old.sfidl", "--format", "github")
    assert code == 0  # a warning only
    first, summary = out.splitlines()
    rule = BY_ID["STATE_DEFAULT"]
    assert first == (
        "::warning file=new.sfidl,line=7,col=9,endLine=7,endColumn=14,"
        "title=sfidl breaking STATE_DEFAULT::"
        f"the default of `Counter.count` changed from 0 to 1%0A{rule.reason}%0Afix: {rule.fix}"
    )
    assert summary == "sfidl breaking: 0 breaking changes, 1 warning"
    monkeypatch.chdir(FIXTURES / "RPC_ERRORS")
    code, out, _ = _breaking(capsys, "new.sfidl", "--against", "old.sfidl", "--format", "github")
    assert code == 1 and out.startswith("::error file=new.sfidl,line=11,col=7,")


def test_either_version_not_compiling_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.sfidl"
    broken.write_text("namespace demo;\nmessage M { strin x = 1; }\n")
    good = str(FIXTURES / "STATE_TYPE" / "new.sfidl")
    for args in ((str(broken), "--against", good), (good, "--against", str(broken))):
        code, out, err = _breaking(capsys, *args)
        assert (code, out) == (2, "")
        assert f"{broken}:2:13: error[unknown-type]: unknown type `strin`" in err
    code, _, err = _breaking(capsys, good, "--against", str(tmp_path / "missing.sfidl"))
    assert code == 2 and "cannot read" in err and "no such file" in err


# ---------------------------------------------------------------- --against-git


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        timeout=30,
    )


def test_against_git_reads_the_file_and_its_imports_at_a_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    (repo / "app" / "common").mkdir(parents=True)
    _git(repo, "init", "-q")
    common = repo / "app" / "common" / "money.sfidl"
    main_file = repo / "app" / "shop.sfidl"
    common.write_text(
        "namespace common;\nmessage Money { int64 cents = 1; string currency = 2; }\n"
    )
    main_file.write_text(
        'namespace shop;\nimport "common/money.sfidl";\n'
        "function Till {\n  state total: common.Money;\n  on pay(common.Money);\n}\n"
    )
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "v1")
    # The working tree changes the imported file; the old version comes from git.
    common.write_text("namespace common;\nmessage Money { int64 cents = 1; }\n")
    monkeypatch.chdir(repo / "app")
    code, out, _ = _breaking(capsys, "shop.sfidl", "--against-git", "HEAD")
    assert code == 1
    assert out.startswith(
        "common/money.sfidl:2:9: error[FIELD_NO_DELETE]: `Money` lost its field `currency = 2` "
        "without reserving its number\n"
    )
    assert "  = was: HEAD:app/common/money.sfidl:2:41\n" in out
    # Unchanged against the working tree's own commit: safe.
    _git(repo, "commit", "-q", "-am", "v2")
    assert _breaking(capsys, "shop.sfidl", "--against-git", "HEAD")[:2] == (
        0,
        "sfidl breaking: no breaking changes\n",
    )
    # An old version that does not compile is shown at REF:path.
    common.write_text("namespace common;\nmessage Money { int64 cents = 1 }\n")
    _git(repo, "commit", "-q", "-am", "broken")
    common.write_text("namespace common;\nmessage Money { int64 cents = 1; }\n")
    code, _, err = _breaking(capsys, "shop.sfidl", "--against-git", "HEAD")
    assert code == 2 and "HEAD:app/common/money.sfidl:2:" in err
    # A file that did not exist, a revision that does not, a folder outside git.
    (repo / "app" / "new.sfidl").write_text("namespace n;\n")
    code, _, err = _breaking(capsys, "new.sfidl", "--against-git", "HEAD~1")
    assert (code, err) == (2, "sfidl: error: app/new.sfidl does not exist at HEAD~1\n")
    code, _, err = _breaking(capsys, "shop.sfidl", "--against-git", "v9")
    assert code == 2 and "--against-git 'v9': no such commit" in err
    code, _, err = _breaking(capsys, "shop.sfidl", "--against-git=--output=x")
    assert code == 2 and "a revision cannot start with `-`" in err
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.sfidl").write_text("namespace x;\n")
    monkeypatch.chdir(outside)
    code, _, err = _breaking(capsys, "x.sfidl", "--against-git", "HEAD")
    assert code == 2 and "is not in a git repository" in err


def test_the_docs_give_every_rule_its_reason() -> None:
    docs = (ROOT / "docs" / "breaking.md").read_text()
    for rule in RULES:
        assert f"**`{rule.id}`** ({rule.severity.value}): {rule.reason}." in docs, rule.id
    assert "sfidl breaking" in (ROOT / "README.md").read_text()
