"""Personal data at rest: profiles, events and subject rights.

* :func:`validate_subject_id` and :class:`SubjectKeys` — re-exported from :mod:`sdk.keys`, where
  subject ids, pseudonyms and per-subject data keys live (below consent);
* :class:`Profiles` — named profile fields, each encrypted separately and bound to its subject and
  field name, with optional blind indexes;
* :class:`Events` — behavioural events with their purpose, encrypted;
* :class:`SubjectRights` — export (GDPR Art. 15 / 20) and erasure with a signed receipt
  (:func:`verify_erasure_receipt`);
* :class:`Personal` — the pydantic marker for personal fields (:func:`seal` / :func:`unseal`).
"""

from __future__ import annotations

from ..keys import RewrapReport, SubjectKeys, validate_subject_id
from .events import Events
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
