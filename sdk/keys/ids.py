"""Subject identifiers: what whylens accepts as the id of a person.

Subject ids are often e-mail addresses or account numbers, so validation errors describe the
problem (type, length, position of a control character) and never repeat the id itself.
"""

from __future__ import annotations

import re
import unicodedata

from ..errors import InvalidSubjectId

__all__ = ["MAX_SUBJECT_ID_LENGTH", "validate_subject_id"]

MAX_SUBJECT_ID_LENGTH = 256
# C0 and C1 control characters, DEL, and lone surrogates (which cannot be encoded as UTF-8)
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# invisible characters that make two ids look the same: zero-width space/joiners, word joiner,
# the BOM, soft hyphen, bidirectional controls and other format characters (Unicode Cf)
_INVISIBLE_CATEGORIES = {"Cf"}
_RULE = (
    f"subject id must be a non-empty string of at most {MAX_SUBJECT_ID_LENGTH} characters "
    "without control, zero-width or other invisible characters, and not only whitespace"
)


def validate_subject_id(subject: object) -> str:
    """Return ``subject`` as a plain, NFC-normalized ``str`` if it is a valid subject id.

    A valid id is a ``str`` of 1 to 256 characters (after NFC normalization, so "José" typed
    with a combining accent is the same subject as with a precomposed one; no stripping, no case
    folding) that is not only whitespace and contains no control, zero-width or other invisible
    format characters. Otherwise raises :class:`InvalidSubjectId`, whose message says what is
    wrong without echoing the id.
    """
    if not isinstance(subject, str):
        raise InvalidSubjectId(f"{_RULE} (got {type(subject).__name__}, not a string)")
    plain = subject if type(subject) is str else str.__str__(subject)
    bad = _FORBIDDEN.search(plain)
    if bad is not None:
        kind = "a lone surrogate" if "\ud800" <= bad.group() <= "\udfff" else "a control character"
        raise InvalidSubjectId(
            f"{_RULE} (got {len(plain)} characters with {kind} at position {bad.start()})"
        )
    for position, char in enumerate(plain):
        if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            raise InvalidSubjectId(
                f"{_RULE} (got {len(plain)} characters with an invisible format "
                f"character U+{ord(char):04X} at position {position})"
            )
    normal = unicodedata.normalize("NFC", plain)
    size = len(normal)
    if size == 0:
        raise InvalidSubjectId(f"{_RULE} (got an empty id)")
    if size > MAX_SUBJECT_ID_LENGTH:
        raise InvalidSubjectId(f"{_RULE} (got {size} characters)")
    if normal.isspace():
        raise InvalidSubjectId(f"{_RULE} (got {size} whitespace characters)")
    return normal
