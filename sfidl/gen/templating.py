"""The jinja2 environment every generator renders its template with."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import jinja2

from sfidl.resources import data_dir


@cache
def environment() -> jinja2.Environment:
    """Templates from ``templates/``; a missing variable is an error, never an empty string."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
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
