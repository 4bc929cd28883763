"""Where the grammar and the templates are, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder ``name`` (``grammar`` or ``templates``).

    A wheel carries them under ``sfidl/_data/``; a source checkout (and an editable
    install) keeps them at the top of the repository, next to the package.
    """
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"sfidl is installed without its {name}/ folder")
