"""Session-wide checks shared by every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.black_identity import install


@pytest.fixture(scope="session", autouse=True)
def generated_python_is_black_identical() -> Iterator[None]:
    """Every stubs file compiled in this process is compared with black's formatting of it."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        install(monkeypatch)
        yield
