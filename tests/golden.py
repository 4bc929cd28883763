"""Golden files: expected outputs committed next to the tests, refreshed by one command.

    SFIDL_UPDATE_GOLDENS=1 pytest      # rewrite every golden file from the current output

Review each rewritten file by eye (``git diff``) before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

UPDATE = os.environ.get("SFIDL_UPDATE_GOLDENS") == "1"


def assert_golden(path: Path, actual: str | bytes) -> None:
    """Assert ``actual`` equals the golden file at ``path`` (or rewrite it when updating)."""
    data = actual.encode() if isinstance(actual, str) else actual
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        return
    assert path.exists(), f"missing golden file {path}; run with SFIDL_UPDATE_GOLDENS=1 to create it"
    expected = path.read_bytes()
    if expected != data:
        # A text diff reads better than two byte strings.
        assert data.decode(errors="replace") == expected.decode(errors="replace"), (
            f"{path} differs; run with SFIDL_UPDATE_GOLDENS=1 to accept the new output"
        )
