"""StateFun typenames: pure string rules shared by the compiler and the runtime library.

This module imports nothing, so the compiler can use it without loading the StateFun SDK.
"""

from __future__ import annotations

PROTOBUF_TYPENAME_PREFIX = "type.googleapis.com/"


def is_typename(text: str) -> bool:
    """What StateFun's ``TypeName.parseFrom`` accepts: exactly one ``/``, both parts non-empty.

    (The SDK splits at the last ``/`` and so accepts ``a/b/c``, which the runtime cannot bind.)
    """
    namespace, slash, name = text.partition("/")
    return bool(slash and namespace and name and "/" not in name)
