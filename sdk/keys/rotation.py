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
    from .._store.abc import KeyStorage, Store, WrappedKeyRow
    from ..crypto.providers import KeyProvider

__all__ = ["KeyRotation", "RewrapReport"]

@dataclass(frozen=True, slots=True)
class RewrapReport:
    """What :meth:`SubjectKeys.rewrap_all` did: keys moved to the current KEK, and how many are
    still under an older one (0 after a complete run)."""

    kek_version: int
    rewrapped: int
    remaining: int


class KeyRotation:
    """Rewrap and KEK retirement, mixed into :class:`SubjectKeys`."""

    _db: Store
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
        done = self._rewrap_rows(False, target, batch_size)
        done += self._rewrap_rows(True, target, batch_size)
        return RewrapReport(
            kek_version=target, rewrapped=done, remaining=self.count_below_kek(target)
        )

    def _rewrap_rows(self, old: bool, target: int, batch_size: int) -> int:
        keys = self._db.keys
        select = keys.old_below if old else keys.current_below
        done = 0
        after: tuple[str, int] = ("", 0)
        while True:
            rows: list[WrappedKeyRow] = select(target, after, batch_size)
            if not rows:
                return done
            updates = []
            for pseudo, version, kek_version, wrapped in rows:
                dek = self._unwrap(pseudo, version, kek_version, wrapped)
                new_kek, new_wrapped = self._wrap(pseudo, version, dek)
                updates.append((pseudo, version, new_kek, new_wrapped, wrapped))
            with self._db.transaction() as tx:
                for pseudo, version, new_kek, new_wrapped, wrapped in updates:
                    # compare-and-set: a row rotated or erased meanwhile is left alone
                    done += _rewrap(tx.keys, old, pseudo, version, new_kek, new_wrapped, wrapped)
            after = (rows[-1][0], rows[-1][1])

    def count_below_kek(self, version: int) -> int:
        """How many wrapped data keys (all versions) are still under a KEK older than
        ``version``."""
        return self._db.keys.count_below(version)

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


def _rewrap(
    keys: KeyStorage,
    old: bool,
    pseudo: str,
    version: int,
    new_kek: int,
    new_wrapped: bytes,
    wrapped: bytes,
) -> int:
    if old:
        changed = keys.rewrap_old(
            pseudo, version, expected=wrapped, new_kek=new_kek, new_wrapped=new_wrapped
        )
    else:
        changed = keys.rewrap_current(
            pseudo, expected=wrapped, new_kek=new_kek, new_wrapped=new_wrapped
        )
    return int(changed)
