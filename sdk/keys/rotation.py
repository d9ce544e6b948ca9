"""KEK rotation for :class:`~sdk.keys.SubjectKeys`: rewrap every data key, retire.

``rewrap_all`` moves every wrapped data key (current and old versions) to the provider's current
KEK without touching any field ciphertext. Rows go in batches in pseudonym order, each batch one
transaction, each update a compare-and-set on the old wrapped bytes, and only rows not yet under
the target KEK are selected: an interrupted run resumes where it stopped, a second run does
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..crypto.providers import KeyProvider
    from ..store import Database

__all__ = ["KeyRotation", "RewrapReport"]

_CURRENT_ROWS = (
    "SELECT subject, version, kek_version, wrapped FROM (SELECT k.subject AS subject, "
    "(SELECT COALESCE(MAX(o.version), 0) + 1 FROM subject_old_keys o WHERE o.subject = k.subject)"
    " AS version, k.kek_version AS kek_version, k.wrapped AS wrapped FROM subject_keys k "
    "WHERE k.wrapped IS NOT NULL AND k.kek_version != ?) "
    "WHERE (subject, version) > (?, ?) ORDER BY subject LIMIT ?"
)
# "? > 0" takes the version parameter so both tables' updates share one parameter shape
_UPDATE_CURRENT = (
    "UPDATE subject_keys SET kek_version = ?, wrapped = ? WHERE subject = ? AND ? > 0 "
    "AND wrapped = ?"
)
_OLD_ROWS = (
    "SELECT subject, version, kek_version, wrapped FROM subject_old_keys WHERE kek_version != ? "
    "AND (subject, version) > (?, ?) ORDER BY subject, version LIMIT ?"
)
_UPDATE_OLD = (
    "UPDATE subject_old_keys SET kek_version = ?, wrapped = ? WHERE subject = ? AND version = ? "
    "AND wrapped = ?"
)


@dataclass(frozen=True, slots=True)
class RewrapReport:
    """What :meth:`SubjectKeys.rewrap_all` did: keys moved to the current KEK, and how many are
    still under an older one (0 after a complete run)."""

    kek_version: int
    rewrapped: int
    remaining: int


class KeyRotation:
    """Rewrap and KEK retirement, mixed into :class:`SubjectKeys`."""

    _db: Database
    provider: KeyProvider

    def _unwrap(self, pseudo: str, version: int, kek_version: int, wrapped: bytes) -> bytes:
        raise NotImplementedError

    def _wrap(self, pseudo: str, version: int, dek: bytes) -> tuple[int, bytes]:
        raise NotImplementedError

    def clear_cache(self) -> None:
        raise NotImplementedError

    def rewrap_all(self, *, batch_size: int = 500) -> RewrapReport:
        """Rewrap every data key (current and old versions) under the provider's current KEK.

        The data itself is not touched: only the wrapped keys change. Each batch commits on its
        own and only rows still under another KEK are selected, so an interrupted run resumes
        where it stopped and running it twice does nothing the second time.
        """
        target = self.provider.current_version
        done = self._rewrap_rows(_CURRENT_ROWS, _UPDATE_CURRENT, target, batch_size)
        done += self._rewrap_rows(_OLD_ROWS, _UPDATE_OLD, target, batch_size)
        return RewrapReport(
            kek_version=target, rewrapped=done, remaining=self.count_below_kek(target)
        )

    def _rewrap_rows(self, select: str, update: str, target: int, batch_size: int) -> int:
        done = 0
        after: tuple[str, int] = ("", 0)
        while True:
            rows = self._db.query(select, (target, *after, batch_size))
            if not rows:
                return done
            updates = []
            for pseudo, version, kek_version, wrapped in rows:
                dek = self._unwrap(pseudo, int(version), int(kek_version), bytes(wrapped))
                new_kek, new_wrapped = self._wrap(pseudo, int(version), dek)
                updates.append((new_kek, new_wrapped, pseudo, int(version), bytes(wrapped)))
            with self._db.transaction() as tx:
                for row in updates:
                    # compare-and-set: a row rotated or erased meanwhile is left alone
                    done += max(tx.execute(update, row).rowcount, 0)
            after = (str(rows[-1][0]), int(rows[-1][1]))

    def count_below_kek(self, version: int) -> int:
        """How many wrapped data keys (all versions) are still under a KEK older than
        ``version``."""
        row = self._db.query_one(
            "SELECT (SELECT COUNT(*) FROM subject_keys WHERE wrapped IS NOT NULL "
            "AND kek_version < ?) + (SELECT COUNT(*) FROM subject_old_keys WHERE kek_version < ?)",
            (version, version),
        )
        return int(row[0]) if row else 0

    def retire_keks(self, below: int) -> None:
        """Retire KEK versions below ``below`` once no data key is wrapped under them."""
        left = self.count_below_kek(below)
        if left:
            raise ConfigurationError(
                f"{left} data keys are still wrapped under KEK versions below {below}; run "
                "rewrap_all() (`whylens keys rewrap`) first"
            )
        retire = getattr(self.provider, "retire", None)
        if retire is None:
            raise ConfigurationError(
                f"the {self.provider.name} key provider takes its minimum version as an option"
            )
        retire(below)
        self.clear_cache()
