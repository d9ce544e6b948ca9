"""Subject identity and data keys, below consent and subjects.

* :func:`validate_subject_id` — what counts as a subject id (errors never echo it);
* :class:`SubjectKeys` — pseudonyms and per-subject data keys, wrapped by a key provider, rotated,
  rewrapped, and destroyed on erasure (crypto-shredding); :class:`RewrapReport` reports a KEK
  rewrap, :class:`KekRotationReport` a run of the KEK rotation schedule
  (:class:`RotationSchedule`: rotate, rewrap, destroy old KEK versions after a window).

Consent, subjects, audit, models and serving all name people by pseudonym, so this package sits
below every one of them and imports none.
"""

from __future__ import annotations

from .ids import MAX_SUBJECT_ID_LENGTH, validate_subject_id
from .keystore import RewrapReport, SubjectKeys, check_pseudonym
from .schedule import KekRotationReport, RotationSchedule

__all__ = [
    "MAX_SUBJECT_ID_LENGTH",
    "KekRotationReport",
    "RewrapReport",
    "RotationSchedule",
    "SubjectKeys",
    "check_pseudonym",
    "validate_subject_id",
]
