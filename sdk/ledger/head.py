"""The signed head that seals the ledger: ``whylens_meta['ledger_head']`` =
``{"size", "hash", "mac"}`` with ``mac = HMAC-SHA256(key, canonical_json({"size", "hash"}))``,
written after every commit. Without the key nobody can cut entries off the end, rewrite the tail,
or add entries, and then produce a head that verifies (see :mod:`sdk.ledger.verify`)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from .._canonical import canonical_json

__all__ = ["HEAD_KEY", "Head", "check_tail", "decode_head", "encode_head", "head_problem"]

HEAD_KEY = "ledger_head"
"""The ``whylens_meta`` key of the signed head."""


@dataclass(frozen=True, slots=True)
class Head:
    """The signed head as stored: the number of entries, the last hash, and their MAC."""

    size: int
    hash: str
    mac: str

    def authentic(self, mac_key: bytes) -> bool:
        """True if ``mac`` is the HMAC of (size, hash) under ``mac_key``."""
        return hmac.compare_digest(self.mac, head_mac(mac_key, self.size, self.hash))


def head_mac(mac_key: bytes, size: int, hash_hex: str) -> str:
    """Hex HMAC-SHA256 over ``canonical_json({"size": size, "hash": hash_hex})``."""
    msg = canonical_json({"size": size, "hash": hash_hex})
    return hmac.new(mac_key, msg, hashlib.sha256).hexdigest()


def encode_head(mac_key: bytes, size: int, hash_hex: str) -> str:
    """The text stored under :data:`HEAD_KEY` after a commit."""
    mac = head_mac(mac_key, size, hash_hex)
    return canonical_json({"size": size, "hash": hash_hex, "mac": mac}).decode()


def decode_head(text: str) -> Head:
    """Parse a stored head; raises ValueError if it is not one."""
    obj = json.loads(text)
    if not isinstance(obj, dict) or obj.keys() != {"size", "hash", "mac"}:
        raise ValueError("not a ledger head")
    size, hash_hex, mac = obj["size"], obj["hash"], obj["mac"]
    if type(size) is not int or size < 0 or not isinstance(hash_hex, str):
        raise ValueError("not a ledger head")
    if not isinstance(mac, str):
        raise ValueError("not a ledger head")
    return Head(size, hash_hex, mac)


def head_problem(head_text: str | None, mac_key: bytes) -> tuple[Head | None, str | None]:
    """The parsed head (None when absent or unreadable) and what is wrong with it, if anything."""
    if head_text is None:
        return None, None
    try:
        head = decode_head(head_text)
    except ValueError:
        return None, "the signed ledger head is unreadable (it was altered)"
    if not head.authentic(mac_key):
        return head, (
            "the signed ledger head does not verify with this ledger's key: it was changed "
            "without the key (or the key is wrong)"
        )
    return head, None


def check_tail(head_text: str | None, size: int, last_hash: str, mac_key: bytes) -> str | None:
    """Does the end of the stored chain (its size and last hash) match an authentic head?

    Used before every commit: appending on top of a cut or forged tail would seal the damage under
    a new, valid head, so the ledger refuses to. Returns the problem, or None when they match.
    """
    head, problem = head_problem(head_text, mac_key)
    if problem is not None:
        return problem
    if head is None:
        if size == 0:
            return None
        return (
            f"the signed ledger head is missing although the ledger has {size} entries "
            "(it was deleted, or entries were added without the ledger key)"
        )
    if size < head.size:
        return (
            f"the ledger ends at entry {size} but its signed head covers {head.size} entries: "
            "entries were removed from the end"
        )
    if size > head.size:
        return (
            f"entries {head.size + 1}..{size} were added without the ledger key "
            f"(the signed head covers {head.size})"
        )
    if last_hash != head.hash:
        return (
            f"the hash of the last entry ({size}) differs from the signed head: the end of the "
            "ledger was rewritten"
        )
    return None
