"""Move a legacy store (``pseudonyms = hmac-v1``) off recomputable pseudonyms for good.

A store made before schema 4 named each subject ``HMAC(pseudonym key, id)``. The ledger keeps
those names for ever (its rows are hash-chained), so anyone holding the keyring can recompute an
erased person's name from their id and find their entries. The only fix is to destroy the key
the names were computed with. Every ``subject_index`` token is under that key too, so the index
is rebuilt under a new key first, from the subject ids the operator supplies (whylens never
stored them):

1. for each id, the pseudonym it reaches today (its index row, or its HMAC name if that is in
   use) is indexed under a token of a new random key; an *erased* id gets a fresh tombstone
   pseudonym instead (it still says ``SubjectErased``, but leads to nothing);
2. the new key's hash is recorded in the store, then the keyring file's pseudonym key is
   overwritten with the new key (the old one is gone from the file);
3. every index row not under the new key is deleted and the legacy mark is cleared, so HMAC
   names are no longer looked up.

Live subjects whose id is not supplied would become unreachable: the migration refuses (naming
how many) unless ``force``. Interrupted after step 2, run it again with the same ids: it
finishes step 3. Run it with every other process of the store stopped: a process still holding
the old key would index new subjects under it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..crypto.field import pseudonym
from ..errors import ConfigurationError
from .ids import validate_subject_id
from .pseudonyms import LEGACY_MARK, checked, index_tag, retagger, subject_token

if TYPE_CHECKING:
    from .._store.abc import Store
    from ..crypto.keyring import Keyring

__all__ = ["MIGRATED_MARK", "PseudonymMigration", "migrate_pseudonyms"]

MIGRATED_MARK = "random-v2"
"""The ``pseudonyms`` mark of a store whose HMAC pseudonym key was destroyed."""
_STAGED = "pseudonym_key_staged"
_ALL_KEYS = 1 << 62  # "every KEK version is below this": lists every live key
_NO_DATE = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class PseudonymMigration:
    """What :func:`migrate_pseudonyms` did."""

    reindexed: int
    """Ids indexed under the new key (live subjects)."""
    erased: int
    """Erased ids given a fresh tombstone (they still say erased, and lead nowhere)."""
    unknown: int
    """Ids supplied that reach nothing stored."""
    unreachable: int
    """Live subjects no supplied id reaches (only with ``force``: their data stays, unreachable
    by id)."""
    tokens_removed: int
    """Index rows under the destroyed key, deleted."""


def migrate_pseudonyms(
    db: Store,
    keyring: Keyring,
    ids: Iterable[str],
    *,
    is_erased: Callable[[str], bool],
    kek_version: int,
    force: bool = False,
) -> PseudonymMigration:
    """Rebuild ``db``'s subject index under a new pseudonym key from ``ids`` (every subject id
    the application knows), then destroy the old key in ``keyring`` (see the module docstring).
    ``kek_version`` is recorded on the tombstones made for erased ids."""
    mark = db.meta.get(LEGACY_MARK[0])
    if mark != LEGACY_MARK[1]:
        raise ConfigurationError(
            "this store has no HMAC pseudonyms (not marked pseudonyms = hmac-v1): nothing to "
            "migrate"
        )
    subjects = sorted({validate_subject_id(i) for i in ids})
    current = keyring.pseudonym_key
    if db.meta.get(_STAGED) == hashlib.sha256(current).hexdigest():
        # step 2 was done: the old key is gone, the new tokens are written; finish step 3
        counts = (0, 0, 0, 0)
        new = current
    else:
        new = secrets.token_bytes(32)
        counts = _reindex(db, current, new, subjects, is_erased, kek_version, force)
        db.meta.set(_STAGED, hashlib.sha256(new).hexdigest())
        keyring.replace_pseudonym_key(new)
    keep = {subject_token(new, s) for s in subjects}
    with db.transaction() as tx:
        stale = [t for t in tx.subject_index.tokens() if t not in keep]
        removed = tx.subject_index.forget(stale)
    db.meta.set(LEGACY_MARK[0], MIGRATED_MARK)
    db.meta.set(_STAGED, "")
    return PseudonymMigration(*counts, tokens_removed=removed)


def _reindex(
    db: Store,
    old: bytes,
    new: bytes,
    subjects: list[str],
    is_erased: Callable[[str], bool],
    kek_version: int,
    force: bool,
) -> tuple[int, int, int, int]:
    """Step 1: the new tokens, in one transaction; counts (reindexed, erased, unknown,
    unreachable)."""
    reached: dict[str, str] = {}
    for s in subjects:
        token = subject_token(old, s)
        pseudo = checked(old, token, db.subject_index.lookup(token))  # refuses a forged row
        if pseudo is None:
            name = pseudonym(old, s)
            pseudo = name if db.subject_index.in_use(name) else None
        if pseudo is not None:
            reached[s] = pseudo
    live = {p for p in _live_pseudonyms(db) if not is_erased(p)}
    unreachable = len(live - set(reached.values()))
    if unreachable and not force:
        raise ConfigurationError(
            f"{unreachable} subjects with data are reached by none of the ids given: their data "
            "would become unreachable by id. Pass every subject id the application knows, or "
            "force=True (--force) to leave them unreachable"
        )
    erased = 0
    with db.transaction() as tx:
        for s, pseudo in reached.items():
            new_token = subject_token(new, s)
            tx.subject_index.claim(new_token, pseudo, index_tag(new, new_token, pseudo))
            if is_erased(pseudo):
                # both rows, the new-key one and the old-key one (deleted in step 3), move to a
                # stand-in: a copy of the old keyring leads from the id to nothing erased
                tx.subject_index.unlink(
                    pseudo,
                    secrets.token_hex(16),
                    retag=retagger((new, old), pseudo),
                    kek_version=kek_version,
                    created=_NO_DATE,
                )
                erased += 1
    return len(reached) - erased, erased, len(subjects) - len(reached), unreachable


def _live_pseudonyms(db: Store) -> set[str]:
    """Every subject with a (not destroyed) data key or a consent history."""
    found: set[str] = set()
    after: tuple[str, int] = ("", 0)
    while rows := db.keys.current_below(_ALL_KEYS, after, 1000):
        found.update(r[0] for r in rows)
        after = (rows[-1][0], rows[-1][1])
    seq = 0
    while entries := db.ledger.entries(after_seq=seq, limit=1000, stream="consent"):
        found.update(str(e[3]) for e in entries if e[3] is not None)
        seq = int(entries[-1][0])
    return found
