"""editors/sfidl.tmLanguage.json: valid, and highlighting exactly the language's keywords
(those of grammar/sfidl.lark), its scalars and its comments."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sfidl.model import SCALARS

ROOT = Path(__file__).resolve().parent.parent
TM = json.loads((ROOT / "editors" / "sfidl.tmLanguage.json").read_text(encoding="utf-8"))
# Scopes a theme colours as keywords.
KEYWORD_SCOPES = ("keyword.", "storage.", "constant.language.")
_ALTERNATIVES = re.compile(r"\((?:\?:)?([a-z0-9]+(?:\|[a-z0-9]+)*)\)")


def _grammar_keywords() -> set[str]:
    """The words the lark grammar writes as literals: `"message"`, `"calls"`, ..."""
    lines = (ROOT / "grammar" / "sfidl.lark").read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("//"))
    return set(re.findall(r'"([a-z]+)"', text))


def _patterns(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if any(key in node for key in ("match", "begin")):
            yield node
        for value in node.values():
            yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


def _words(pattern: dict[str, Any]) -> set[str]:
    return {w for group in _ALTERNATIVES.findall(pattern["match"]) for w in group.split("|")}


def test_it_is_a_textmate_grammar_for_sfidl_files() -> None:
    assert TM["scopeName"] == "source.sfidl"
    assert TM["fileTypes"] == ["sfidl"]
    included = {p["include"].lstrip("#") for p in TM["patterns"]}
    assert included == set(TM["repository"])
    for pattern in _patterns(TM):
        # Oniguruma (what editors run) reads these constructs as Python does.
        for key in ("match", "begin", "end"):
            if key in pattern:
                re.compile(pattern[key])
        names = [pattern.get("name", "")]
        names += [c["name"] for c in pattern.get("captures", {}).values()]
        assert all(n.endswith(".sfidl") for n in names if n), names


def test_its_keywords_are_the_grammar_s() -> None:
    keywords = list(TM["repository"]["keywords"]["patterns"])
    assert all(p["name"].startswith(KEYWORD_SCOPES) for p in keywords)
    highlighted = [w for p in keywords for w in sorted(_words(p))]
    assert len(highlighted) == len(set(highlighted)), "a keyword in two scopes"
    assert set(highlighted) == _grammar_keywords()
    for pattern in keywords:
        for word in _words(pattern):
            assert re.fullmatch(pattern["match"], word)
            assert not re.search(pattern["match"], word + "_x")  # a name, not the keyword
    # The declarations' patterns name keywords only.
    for pattern in TM["repository"]["declarations"]["patterns"]:
        assert _words(pattern) <= _grammar_keywords()


def test_scalars_durations_and_comments() -> None:
    (scalars,) = TM["repository"]["scalars"]["patterns"]
    assert _words(scalars) == set(SCALARS)
    duration = TM["repository"]["numbers"]["patterns"][0]["match"]
    for text in ("500ms", "5s", "2m", "3min", "1h", "30d"):
        assert re.fullmatch(duration, text)
    assert not re.search(duration, "5sec")
    doc, line, block = TM["repository"]["comments"]["patterns"]
    assert re.match(doc["match"], "/// a doc comment")
    assert not re.match(doc["match"], "//// a line comment")
    assert re.match(line["match"], "//// a line comment")
    assert re.match(block["begin"], "/* x */") and re.search(block["end"], "/* x */")
    declaration = TM["repository"]["declarations"]["patterns"][2]["match"]
    found = re.match(declaration, "exclusive function UserCart {")
    assert found is not None and found.groups() == ("exclusive", "function", "UserCart")
