"""`sfidl init NAME`: a new project folder that compiles, type-checks and passes its tests.

The starter (``templates/init_*.j2``) is a greeter that calls a visit counter: a .sfidl file,
the application module, Harness tests, a README, and the pytest and mypy settings that
find the generated code in ``gen/``. Before anything is written the starter is compiled
with NAME, so a name the compiler would reject is refused with the compiler's reason.
"""

from __future__ import annotations

import keyword
import re
import tempfile
from pathlib import Path

from sfidl.diagnostics import CompileError
from sfidl.gen.templating import render_template
from sfidl.naming import pascal_case

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Files are named after the project (`test_<name>.py`...): well below any file system's limit.
MAX_NAME = 100


class InitError(Exception):
    """The project cannot be created as asked; the message says why."""


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a project (its namespace and Python modules), or None."""
    if not _NAME.fullmatch(name):
        return (
            f"`{name}` is not a valid project name: it names the namespace and Python modules, "
            "so use ASCII letters, digits and `_`, starting with a letter (e.g. `shop`)"
        )
    if keyword.iskeyword(name):
        return f"`{name}` is a Python keyword; choose another project name"
    if len(name) > MAX_NAME:
        return f"the project name is {len(name)} characters long; at most {MAX_NAME}, please"
    return None


def starter_files(name: str) -> dict[str, str]:
    """The project's files (path inside the folder -> text) for the project ``name``."""
    app_class = pascal_case(name) + "App"

    def render(template: str) -> str:
        return render_template(f"init_{template}", project=name, app_class=app_class)

    return {
        f"{name}.sfidl": render("project.sfidl.j2"),
        f"{name}_app.py": render("app.py.j2"),
        f"test_{name}.py": render("test_app.py.j2"),
        "README.md": render("README.md.j2"),
        "pyproject.toml": render("pyproject.toml.j2"),
        ".gitignore": render("gitignore.j2"),
    }


def create_project(name: str, folder: Path) -> list[Path]:
    """Create the project ``name`` in ``folder`` (new or empty); the files written."""
    problem = name_problem(name)
    if problem is not None:
        raise InitError(problem)
    if folder.exists() and not folder.is_dir():
        raise InitError(f"{folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise InitError(f"{folder} exists and is not empty; choose a new name or empty it")
    files = starter_files(name)
    _check_compiles(name, files[f"{name}.sfidl"])
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for relative, text in files.items():
            path = folder / relative
            path.write_text(text, encoding="utf-8")
            written.append(path)
    except OSError as error:
        raise InitError(f"cannot write {folder}: {error.strerror or error}") from None
    return written


def _check_compiles(name: str, source: str) -> None:
    """Compile the starter as the project will; a rejected name is an InitError."""
    from sfidl.compiler import compile_file

    with tempfile.TemporaryDirectory(prefix="sfidl-init-") as scratch:
        path = Path(scratch) / f"{name}.sfidl"
        path.write_text(source, encoding="utf-8")
        try:
            compile_file(path)
        except CompileError as error:
            reasons = "; ".join(d.message for d in error.diagnostics)
            raise InitError(f"sfidl cannot make a project named `{name}`: {reasons}") from None
