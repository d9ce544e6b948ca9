"""Subject identifiers: what whylens accepts as the id of a person.

Subject ids are often e-mail addresses or account numbers, so validation errors describe the
problem (type, length, position of a control character) and never repeat the id itself.
"""

from __future__ import annotations

import re

from ..errors import InvalidSubjectId

__all__ = ["MAX_SUBJECT_ID_LENGTH", "validate_subject_id"]

MAX_SUBJECT_ID_LENGTH = 256
# C0 and C1 control characters, DEL, and lone surrogates (which cannot be encoded as UTF-8)
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_RULE = (
    f"subject id must be a non-empty string of at most {MAX_SUBJECT_ID_LENGTH} characters "
    "without control characters"
)


def validate_subject_id(subject: object) -> str:
    """Return ``subject`` as a plain ``str`` if it is a valid subject id.

    A valid id is a ``str`` of 1 to 256 characters (taken as given: no stripping, no case folding)
    containing no control characters. Otherwise raises :class:`InvalidSubjectId`, whose message
    says what is wrong without echoing the id.
    """
    if not isinstance(subject, str):
        raise InvalidSubjectId(f"{_RULE} (got {type(subject).__name__})")
    size = len(subject)
    if size == 0:
        raise InvalidSubjectId(f"{_RULE} (got an empty str)")
    if size > MAX_SUBJECT_ID_LENGTH:
        raise InvalidSubjectId(f"{_RULE} (got a str of {size} characters)")
    bad = _FORBIDDEN.search(subject)
    if bad is not None:
        kind = "a lone surrogate" if "\ud800" <= bad.group() <= "\udfff" else "a control character"
        raise InvalidSubjectId(
            f"{_RULE} (got a str of {size} characters with {kind} at position {bad.start()})"
        )
    return subject if type(subject) is str else str.__str__(subject)
