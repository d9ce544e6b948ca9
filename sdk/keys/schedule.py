"""The KEK rotation schedule: rotate, rewrap, and destroy old KEK versions after a window.

Crypto-shredding destroys a subject's wrapped data key in the database, but a backup taken before
the erasure still holds it, wrapped under a KEK the keyring keeps. So the KEKs themselves are
rotated on a schedule (``every``): a new version becomes current and every live data key is
rewrapped under it; a superseded version is *destroyed* (its material deleted from the keyring)
once it has been superseded for ``retain``. From then on no backup made under it can be read with
the keyring, for the erased and the living alike: ``retain`` is how long a backup stays
restorable, and an erased person's data in a backup is readable with the current keyring for at
most ``every + retain`` after the backup was taken (see ``docs/reference/subjects.md``).

The schedule is stored in the database (``whylens_meta``), so every process and the CLI job
(``whylens keys rotate --if-due``, from cron or a systemd timer) apply the same one; opening a
store whose rotation is overdue logs a warning. KEK versions need creation times: the local
keyring records them; other providers rotate and destroy where their keys live.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from ..errors import ConfigurationError
from .rotation import KeyRotation

__all__ = ["KekRotationReport", "KekSchedule", "RotationSchedule"]

logger = logging.getLogger(__name__)
_EVERY = "kek_rotation_every_seconds"
_RETAIN = "kek_retention_seconds"


class RotationSchedule(NamedTuple):
    """How often KEKs rotate, and how long a superseded one is kept before it is destroyed."""

    every: timedelta
    retain: timedelta


@dataclass(frozen=True, slots=True)
class KekRotationReport:
    """What one run of the schedule did: the current KEK version, data keys rewrapped, how many
    are left under older versions, and the KEK versions destroyed (their material is gone)."""

    kek_version: int
    rewrapped: int
    remaining: int
    destroyed: tuple[int, ...]
    rotated: bool = True


class KekSchedule(KeyRotation):
    """Scheduled KEK rotation and destruction, mixed into :class:`SubjectKeys`."""

    @property
    def rotation_schedule(self) -> RotationSchedule | None:
        """The schedule stored in the database, or None if KEKs rotate only by hand."""
        every, retain = self._db.meta.get(_EVERY), self._db.meta.get(_RETAIN)
        if every is None or retain is None or not every.isdigit() or not retain.isdigit():
            return None
        return RotationSchedule(timedelta(seconds=int(every)), timedelta(seconds=int(retain)))

    def set_rotation_schedule(self, *, every: timedelta, retain: timedelta) -> None:
        """Rotate KEKs every ``every`` and destroy a superseded one after ``retain``.

        ``retain`` is the backup retention window: a backup older than it (plus up to ``every``)
        cannot be restored with the current keyring any more, by design. Stored in the
        database for every process.
        """
        if not isinstance(every, timedelta) or every <= timedelta(0):
            raise ConfigurationError("the KEK rotation interval must be a positive timedelta")
        if not isinstance(retain, timedelta) or retain < timedelta(0):
            raise ConfigurationError("the KEK retention window must be a timedelta >= 0")
        with self._db.transaction() as tx:
            tx.meta.set(_EVERY, str(int(every.total_seconds())))
            tx.meta.set(_RETAIN, str(int(retain.total_seconds())))

    def rotation_due(self, *, now: datetime | None = None) -> bool:
        """True if the schedule says the current KEK is old enough to be replaced."""
        schedule = self.rotation_schedule
        if schedule is None:
            return False
        made = self.provider.created_at(self.provider.current_version)
        return made is None or _now(now) - made >= schedule.every

    def rotate(
        self, *, retain: timedelta | None = None, now: datetime | None = None
    ) -> KekRotationReport:
        """Make a new KEK version current, rewrap every data key under it, and destroy the
        versions superseded for longer than ``retain`` (default: the schedule's window; with no
        schedule nothing is destroyed). ``now`` defaults to the clock (tests pass their own).
        """
        version = self.provider.rotate(now=now)
        rewrap = self.rewrap_all()
        destroyed = self.destroy_expired_keks(retain=retain, now=now)
        return KekRotationReport(version, rewrap.rewrapped, rewrap.remaining, destroyed)

    def rotate_if_due(self, *, now: datetime | None = None) -> KekRotationReport | None:
        """Run the schedule once: rotate if due, destroy what has expired; None if nothing
        was to be done (the CLI job ``whylens keys rotate --if-due`` calls this)."""
        if self.rotation_schedule is None:
            return None
        if self.rotation_due(now=now):
            return self.rotate(now=now)
        destroyed = self.destroy_expired_keks(now=now)
        if not destroyed:
            return None
        current = self.provider.current_version
        left = self.count_below_kek(current)
        return KekRotationReport(current, 0, left, destroyed, rotated=False)

    def destroy_expired_keks(
        self, *, retain: timedelta | None = None, now: datetime | None = None
    ) -> tuple[int, ...]:
        """Destroy every KEK version superseded for at least ``retain`` (default: the
        schedule's) under which no data key is wrapped any more; the versions destroyed."""
        if retain is None:
            schedule = self.rotation_schedule
            if schedule is None:
                return ()
            retain = schedule.retain
        when = _now(now)
        current = self.provider.current_version
        expired: list[int] = []
        for version in self.provider.versions:
            if version >= current:
                break
            superseded = _superseded_at(self, version, current)
            if superseded is None or when - superseded < retain:
                break  # versions expire in order; a newer one cannot have expired before
            expired.append(version)
        if not expired:
            return ()
        left = self.count_below_kek(expired[-1] + 1)
        if left:
            logger.warning(
                "%d data keys are still wrapped under KEK versions up to %d; rewrap them "
                "(`whylens keys rewrap`) before those versions can be destroyed",
                left,
                expired[-1],
            )
            return ()
        self.provider.destroy(expired, now=when)
        self.clear_cache()
        return tuple(expired)

    def warn_if_overdue(self) -> None:
        """Log a warning when the schedule's rotation is overdue (checked on open)."""
        if self.rotation_schedule is not None and self.rotation_due():
            logger.warning(
                "the KEK rotation schedule is overdue: run `whylens keys rotate --if-due` "
                "(or p.keys.rotate_if_due()) so old backups stop decrypting erased people"
            )


def _superseded_at(keys: KekSchedule, version: int, current: int) -> datetime | None:
    # a version is superseded when the next one is made; unknown times count as not yet
    for newer in range(version + 1, current + 1):
        made = keys.provider.created_at(newer)
        if made is not None:
            return made
    return None


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)

