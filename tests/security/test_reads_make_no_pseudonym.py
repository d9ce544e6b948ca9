"""A read about an id whylens never saw writes nothing: no ``subject_index`` row (a pseudonym is a
record that the id was asked about), no data key. Nor does a write refused for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import tamper

from sdk import Personalizer
from sdk.errors import AuditError, CurationError

STRANGER = "never.seen.3c1e@example.org"


def _rows(store_url: str) -> tuple[int, int]:
    index = tamper(store_url, "SELECT count(*) FROM subject_index")[0][0]
    keys = tamper(store_url, "SELECT count(*) FROM subject_keys")[0][0]
    return int(index), int(keys)  # type: ignore[call-overload]


def test_reads_of_an_unknown_id_create_no_pseudonym(store_url: str, keyring_path: Path) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.consent.grant("known", ["personalization"])
        before = _rows(store_url)
        assert p.preferences.state(STRANGER).profiling
        assert p.curation.picks(STRANGER) == []
        with pytest.raises(CurationError):
            p.curation.unpick(STRANGER, "item-1", staff="owner.lena")
        assert not p.consent.gpc.active(STRANGER)
        assert p.consent.gpc.conflicts(STRANGER, ["marketing"]) == ()
        assert p.consent.apply_gpc(STRANGER, None) is None  # no signal: nothing to record
        assert p.consent.apply_gpc(STRANGER, "0") is None
        assert p.notes.of_subject(STRANGER) == []
        assert p.contact.of_subject(STRANGER) == []
        with pytest.raises(AuditError):
            p.audit.protected.put(STRANGER, {"sex": float("nan")})  # refused: nothing stored
        assert _rows(store_url) == before
