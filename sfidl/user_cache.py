"""Where sfidl keeps what it can recompute: compiled templates, black's output per block.

``SFIDL_CACHE_DIR`` wins; otherwise the platform's user cache folder. Nothing in it is
needed: every reader treats a missing, unreadable or unwritable cache as empty.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def user_cache_dir() -> Path:
    """The folder sfidl's caches live under (it may not exist, or not be writable)."""
    override = os.environ.get("SFIDL_CACHE_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sfidl"
