"""How one name becomes another: the one place the checker and the generators derive names.

The checker predicts clashes between names the generators will derive (typenames,
envelope and class names), so both must derive them the same way.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=4096)  # the checker and every generator ask for the same names again
def snake_case(name: str) -> str:
    """``UserCart`` -> ``user_cart``, ``HTTPServer`` -> ``http_server``, ``OutOfStock`` -> ``out_of_stock``."""
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", words)
    return words.lower()


def pascal_case(name: str) -> str:
    """``reserve`` -> ``Reserve``, ``add_item`` -> ``AddItem``; a Pascal-cased name stays as it is."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)
