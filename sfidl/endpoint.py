"""What makes a URL usable as the endpoint StateFun reaches the functions at."""

from __future__ import annotations

from urllib.parse import urlsplit


def endpoint_problem(url: str) -> str | None:
    """Why ``url`` cannot be a StateFun HTTP endpoint, or None when it can."""
    if not url or any(c.isspace() or not c.isprintable() for c in url):
        return "an endpoint is a URL without spaces or control characters"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "the endpoint must be an http:// or https:// URL"
    try:
        port = parts.port
    except ValueError:
        return "the endpoint's port is not a number from 0 to 65535"
    if not parts.hostname:
        return "the endpoint has no host"
    del port
    return None
