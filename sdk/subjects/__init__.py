"""Personal data at rest: subject ids, per-subject data keys, profiles, events and subject rights.

* :func:`validate_subject_id` — what counts as a subject id (errors never echo it);
* :class:`SubjectKeys` — pseudonyms and per-subject data keys, wrapped by a key provider, rotated,
  rewrapped, and destroyed on erasure (crypto-shredding);
* :class:`Profiles` — named profile fields, each encrypted separately and bound to its subject and
  field name, with optional blind indexes;
* :class:`Events` — behavioural events with their purpose, encrypted;
* :class:`SubjectRights` — export (GDPR Art. 15 / 20) and erasure with a signed receipt
  (:func:`verify_erasure_receipt`);
* :class:`Personal` — the pydantic marker for personal fields (:func:`seal` / :func:`unseal`).
"""

from __future__ import annotations

from .events import Events
from .ids import validate_subject_id
from .keystore import RewrapReport, SubjectKeys
from .personal import Personal, PersonalStr, seal, unseal
from .profiles import Profiles
from .rights import SubjectRights, verify_erasure_receipt

__all__ = [
    "Events",
    "Personal",
    "PersonalStr",
    "Profiles",
    "RewrapReport",
    "SubjectKeys",
    "SubjectRights",
    "seal",
    "unseal",
    "validate_subject_id",
    "verify_erasure_receipt",
]
