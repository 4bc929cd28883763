"""Session-wide checks shared by every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sfidl.gen.python_format import CHECK_VARIABLE


@pytest.fixture(scope="session", autouse=True)
def generated_python_is_black_identical() -> Iterator[None]:
    """Every stubs module compiled during the tests, in this process or a child process
    (which inherits the environment), is compared with black's formatting of it."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv(CHECK_VARIABLE, "1")
        yield
