"""A witness sink over HTTP: the C2SP ``tlog-witness`` protocol, with cosignatures.

Each anchor is ``POST <prefix>/add-checkpoint`` with the body::

    old <size the witness last cosigned>
    <consistency proof, one base64 hash per line, from that size to the new one>
                                        <- empty line
    <the signed checkpoint note>

and a ``200`` answer carries the witness's ``cosignature/v1`` line(s)
(:mod:`sdk.ledger.cosignature`), checked against the witness key pinned in this client. A
``409`` (``text/x.tlog.size``) says the witness holds another size: the client retries once from
it (with a proof) when it is smaller, and reports it when it is larger -- then the store has lost
entries, or another writer anchored first. ``422`` (the proof does not verify) and a ``409`` at
the same size are :class:`~sdk.errors.WitnessConflict`; anything else (unreachable, ``5xx``) is
:class:`~sdk.errors.WitnessError`, skipped and counted.

The client is pinned to the log it witnesses (``origin=``): the ledger's origin comes from the
keyring's editable ``id``, so a checkpoint of another origin is a
:class:`~sdk.errors.WitnessOriginConflict` (the witness would answer ``404``, unknown log, and
an unreachable witness is skipped: a rollback would pass), and a ``404`` or ``403`` for the
pinned log says the witness does not know it or its key: a conflict, never "unreachable".

The witness keeps the latest size outside the operator's reach, so it stops a rollback even by
someone holding the database, the keyring and the local witness log together. Only the standard
library is used (``urllib``).
"""

from __future__ import annotations

import base64
import threading
import urllib.error
import urllib.request

from ..errors import WitnessConflict, WitnessError, WitnessOriginConflict
from .checkpoint import Checkpoint
from .cosignature import verify_cosignature
from .witness import Anchor, ProveFn

__all__ = ["HttpWitness"]

_MAX_BODY = 64 * 1024


class HttpWitness:
    """A client of one C2SP ``tlog-witness`` (``url`` is its submission prefix), pinned to the
    witness's ``name`` and raw 32-byte Ed25519 ``public_key``, and to the ledger ``origin`` it
    witnesses (``p.ledger.origin``; the witness is configured with it too)."""

    def __init__(
        self, url: str, *, name: str, public_key: bytes, origin: str, timeout: float = 10.0
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise WitnessError("a witness URL starts with http:// or https://")
        if not isinstance(origin, str) or not origin:
            raise WitnessError("an HTTP witness is pinned to the ledger origin it witnesses")
        self._origin = origin
        self._url = url.rstrip("/") + "/add-checkpoint"
        self._witness_name = name
        self._public_key = bytes(public_key)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._latest: dict[str, Anchor] = {}
        self._sizes: dict[str, int] = {}

    @property
    def name(self) -> str:
        """The witness's key name and URL."""
        return f"the witness {self._witness_name} ({self._url})"

    def __repr__(self) -> str:
        return f"HttpWitness({self._url!r}, name={self._witness_name!r}, origin={self._origin!r})"

    @property
    def origin(self) -> str:
        """The ledger origin this witness witnesses."""
        return self._origin

    def _check(self, origin: str) -> None:
        if origin != self._origin:
            raise WitnessOriginConflict(
                f"{self.name} witnesses the ledger {self._origin!r}, not {origin!r}: the "
                "keyring's id was changed, or another store was put in place",
                witness=self.name,
                pinned=self._origin,
            )

    def latest(self, origin: str) -> Anchor | None:
        """The last checkpoint this client got cosigned (or the larger size the witness
        reported), in this process; None before the first anchor. A conflict for another
        origin than the pinned one."""
        self._check(origin)
        with self._lock:
            return self._latest.get(origin)

    def anchor(self, checkpoint: Checkpoint, prove: ProveFn) -> Anchor:
        """Submit ``checkpoint`` (see the module docstring); returns the cosigned anchor, or the
        witness's larger size."""
        self._check(checkpoint.origin)
        with self._lock:
            old = self._sizes.get(checkpoint.origin, 0)
            for _ in range(3):
                if old > checkpoint.size:
                    return self._keep(checkpoint.origin, Anchor(self.name, old))
                status, text = self._post(checkpoint, old, prove)
                if status == 200:
                    line, _ = verify_cosignature(
                        checkpoint.note, text, self._witness_name, self._public_key
                    )
                    anchor = Anchor(
                        self.name, checkpoint.size, checkpoint.root, checkpoint.note + line
                    )
                    self._sizes[checkpoint.origin] = checkpoint.size
                    return self._keep(checkpoint.origin, anchor)
                if status == 409:
                    size = _size(text)
                    if size is None:
                        # the same size with another root (a fork)
                        raise WitnessConflict(
                            f"{self.name} holds another checkpoint of {checkpoint.size} entries: "
                            "the ledger was rewritten (a fork)"
                        )
                    self._sizes[checkpoint.origin] = size
                    if size == old:
                        raise WitnessConflict(
                            f"{self.name} holds another checkpoint of {size} entries: the "
                            "ledger was rewritten (a fork)"
                        )
                    old = size
                    continue
                if status == 422:
                    raise WitnessConflict(
                        f"{self.name} refused the consistency proof from {old} to "
                        f"{checkpoint.size} entries: the ledger was rewritten"
                    )
                if status == 404:
                    raise WitnessConflict(
                        f"{self.name} does not know the ledger {checkpoint.origin!r} it is "
                        "configured to witness (HTTP 404, unknown log): it lost its record, or "
                        "is not the witness of this ledger"
                    )
                if status == 403:
                    raise WitnessConflict(
                        f"{self.name} does not trust the key that signed the checkpoint of "
                        f"{checkpoint.origin!r} (HTTP 403): the signing key was replaced"
                    )
                raise WitnessError(f"{self.name} answered HTTP {status}")
            raise WitnessError(f"{self.name} kept changing its size; try again")

    def probe(self, checkpoint: Checkpoint) -> Anchor | None:
        """What the witness holds for the pinned log, asked without changing it: ``checkpoint``
        is submitted with ``old`` set to its own size, which the witness accepts only if it
        holds that very checkpoint already, and otherwise answers ``409`` with its size."""
        self._check(checkpoint.origin)
        with self._lock:
            status, text = self._post(checkpoint, checkpoint.size, lambda _: [])
        if status == 200:
            return Anchor(self.name, checkpoint.size, checkpoint.root, checkpoint.note)
        size = _size(text) if status == 409 else None
        return None if size is None else Anchor(self.name, size)

    def _keep(self, origin: str, anchor: Anchor) -> Anchor:
        self._latest[origin] = anchor
        return anchor

    def _post(self, cp: Checkpoint, old: int, prove: ProveFn) -> tuple[int, str]:
        path = list(prove(old)) if 0 < old < cp.size else []
        lines = [f"old {old}"] + [base64.b64encode(h).decode() for h in path]
        body = ("\n".join(lines) + "\n\n" + cp.note).encode()
        request = urllib.request.Request(
            self._url, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:
                return int(answer.status), answer.read(_MAX_BODY).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            text = exc.read(_MAX_BODY).decode("utf-8", "replace")
            if exc.code == 409 and exc.headers.get("Content-Type", "") != "text/x.tlog.size":
                text = ""
            return int(exc.code), text
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise WitnessError(f"{self.name} cannot be reached: {exc}") from None


def _size(text: str) -> int | None:
    """The size of a ``409`` answer (``"<decimal>\\n"``), None if it is not one."""
    digits = text.removesuffix("\n")
    if not digits.isdigit() or digits != str(int(digits)):
        return None
    return int(digits)
