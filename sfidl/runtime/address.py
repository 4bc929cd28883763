"""Function addresses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Address:
    """A function instance: its type (``namespace/name``) and id."""

    typename: str
    id: str

    @staticmethod
    def from_sdk(address: Any) -> Address | None:
        """From the SDK's ``SdkAddress`` (or None, for a message from an ingress)."""
        if address is None:
            return None
        return Address(typename=address.typename, id=address.id)

    def __str__(self) -> str:
        return f"{self.typename}/{self.id}"
