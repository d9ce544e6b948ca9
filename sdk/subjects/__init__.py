"""Personal data at rest: subject ids, per-subject data keys and encrypted profiles.

* :func:`validate_subject_id` — what counts as a subject id (errors never echo it);
* :class:`SubjectKeys` — pseudonyms and per-subject data keys, wrapped under the keyring's KEK and
  destroyed on erasure (crypto-shredding);
* :class:`Profiles` — named profile fields, each encrypted separately and bound to its subject and
  field name.
"""

from __future__ import annotations

from .ids import validate_subject_id
from .keystore import SubjectKeys
from .profiles import Profiles

__all__ = ["Profiles", "SubjectKeys", "validate_subject_id"]
