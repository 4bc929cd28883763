"""The jinja2 environment every generator renders its template with."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.bccache

from sfidl.resources import data_dir
from sfidl.user_cache import user_cache_dir


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates in the user cache folder; a folder that cannot be used is no error
    (the template is compiled again, as it would be with no cache)."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, ValueError, EOFError):
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            Path(self.directory).mkdir(parents=True, exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError:
            return


@cache
def environment() -> jinja2.Environment:
    """Templates from ``templates/``; a missing variable is an error, never an empty string.

    Compiled templates are kept between runs (keyed by the template's source and jinja's
    version), so a compile does not parse and compile them again.
    """
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
        bytecode_cache=_BytecodeCache(str(user_cache_dir() / "templates")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_template(
    name: str, filters: Mapping[str, Callable[..., str]] | None = None, **context: Any
) -> str:
    """Render ``templates/<name>``; ``filters`` are the generator's own formatting functions."""
    env = environment()
    if filters:
        env = env.overlay()
        env.filters.update(filters)
    return env.get_template(name).render(**context)
