"""A database-only attacker edits the key schedule kept in ``whylens_meta`` (found by the
adversarial review of issue 11).

``min_data_key_version`` says which data-key versions are retired: ciphertexts under older ones
raise :class:`KeyRetired`. It used to live in ``whylens_meta`` alone, so an attacker who raised it
made every read fail with ``KeyRetired`` — indistinguishable from a retirement done on purpose —
while no ledger entry recorded it and ``verify()`` stayed ok. Retiring data-key versions is now a
ledger entry, and the meta value is checked against the ledger: the edit is still a denial of
service, but one that is detected and named.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import tamper

from sdk import Personalizer
from sdk.errors import KeyRetired, KeyScheduleTampered

WHO = "key-schedule-1@example.org"


def _meta(store_url: str, value: str) -> None:
    tamper(store_url, "DELETE FROM whylens_meta WHERE key = 'min_data_key_version'")
    tamper(store_url, "INSERT INTO whylens_meta (key, value) VALUES ('min_data_key_version', ?)",
           (value,))


def test_attack_raising_the_minimum_data_key_version(store_url: str, keyring_path: Path) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.profiles.put(WHO, {"city": "Graz"})
    _meta(store_url, "5")
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        report = p.ledger.verify()
        assert not report.ok
        assert report.problem is not None and "min_data_key_version" in report.problem
        with pytest.raises(KeyScheduleTampered, match="min_data_key_version"):
            p.profiles.get(WHO)
        with pytest.raises(KeyScheduleTampered):
            p.profiles.put("someone-new", {"city": "Linz"})


def test_attack_lowering_a_recorded_retirement(store_url: str, keyring_path: Path) -> None:
    """Lowering it again (to make retired ciphertexts readable) is caught the same way."""
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.profiles.put(WHO, {"city": "Graz"})
        p.keys.retire_data_keys(2)
        assert p.ledger.verify().ok
    _meta(store_url, "1")
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        assert not p.ledger.verify().ok
        with pytest.raises(KeyScheduleTampered):
            p.profiles.get(WHO)


def test_a_recorded_retirement_is_honoured_across_processes(
    store_url: str, keyring_path: Path
) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.profiles.put(WHO, {"city": "Graz"})
        p.keys.retire_data_keys(2)
        with pytest.raises(KeyRetired):
            p.profiles.get(WHO)
    [(value,)] = tamper(store_url, "SELECT value FROM whylens_meta WHERE key = "
                        "'min_data_key_version'")
    assert value == "2"
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        assert p.ledger.verify().ok
        assert p.keys.min_data_key_version == 2
        with pytest.raises(KeyRetired) as caught:
            p.profiles.get(WHO)
        assert not isinstance(caught.value, KeyScheduleTampered)
        p.profiles.put("someone-new", {"city": "Linz"})  # new subjects start at version 2
        assert p.profiles.get("someone-new") == {"city": "Linz"}


def test_a_retirement_from_before_the_ledger_recorded_them_is_recorded_again(
    store_url: str, keyring_path: Path
) -> None:
    """A store retired by an older whylens (meta only) reads as tampered, with the remedy named;
    retiring again records it on the ledger and the store is consistent."""
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.profiles.put(WHO, {"city": "Graz"})
    _meta(store_url, "2")
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        with pytest.raises(KeyScheduleTampered, match=r"retire_data_keys\(2\)"):
            p.profiles.get(WHO)
        p.keys.retire_data_keys(2)
        assert p.ledger.verify().ok
        with pytest.raises(KeyRetired):
            p.profiles.get(WHO)
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        assert p.ledger.verify().ok
