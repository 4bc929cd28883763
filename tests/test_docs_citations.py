"""Citations of StateFun facts point into this repository: docs/statefun.md, at a section
that exists (a reader cannot follow a citation of a file the repository does not have)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITING = ["sfidl", "tests", "docs", "benchmarks", "examples", "templates", "README.md"]
SUFFIXES = {".py", ".md", ".j2", ".sfidl", ".lark", ".yaml"}
THIS = Path(__file__).resolve()


def texts() -> dict[Path, str]:
    found: dict[Path, str] = {}
    for name in CITING:
        top = ROOT / name
        for path in [top] if top.is_file() else sorted(top.rglob("*")):
            if path.suffix in SUFFIXES and path.is_file() and path != THIS:
                found[path] = path.read_text(encoding="utf-8", errors="replace")
    return found


def anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_no_citation_of_files_outside_the_repository() -> None:
    outside = re.compile(r"STATEFUN\.md|DESIGN\.md|\.\./shared")
    cited = [f"{p.relative_to(ROOT)}" for p, text in texts().items() if outside.search(text)]
    assert cited == []


def test_every_cited_section_of_statefun_md_exists() -> None:
    doc = (ROOT / "docs" / "statefun.md").read_text(encoding="utf-8")
    sections = {anchor(h) for h in re.findall(r"^##+ (.+)$", doc, flags=re.M)}
    cited: set[str] = set()
    for text in texts().values():
        # `statefun.md#a, #b`: a citation may name several sections of the page.
        for first, more in re.findall(r"statefun\.md#([\w-]+)((?:,\s*#[\w-]+)*)", text):
            cited |= {first, *re.findall(r"#([\w-]+)", more)}
    assert cited, "the code cites docs/statefun.md"
    assert sorted(cited - sections) == []
