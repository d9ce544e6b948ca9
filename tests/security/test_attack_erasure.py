"""After ``subjects.erase``: rows about the erased person left in tables erasure does not touch
(found by the adversarial review of issue 11; database only).

Erasure deletes profile fields, events, blind-index entries, the integrity seal and the old key
versions, and leaves a key tombstone and the ledger's pseudonymous entries. The protected
attributes kept for bias audits (sex, ethnicity, ...) used to stay: their rows under the erased
pseudonym with their update time, and an AES-GCM ciphertext as long as its plaintext plus a
constant, so ``"female"`` and ``"male"`` were told apart without any key. Erasure deletes them
now, and their plaintexts are padded to a fixed bucket while the person exists.
"""

from __future__ import annotations

from pathlib import Path

from conftest import tamper

from sdk import Personalizer

WHO = "erased-protected-1@example.org"
# tables whose rows may name an erased pseudonym by design: the ledger (pseudonymous, chained)
# and the key tombstone that makes later uses of the pseudonym say SubjectErased
_BY_DESIGN = {"ledger", "subject_keys"}


def _tables(store_url: str) -> list[str]:
    if store_url.startswith("postgresql://"):
        rows = tamper(store_url, "SELECT table_name FROM information_schema.tables WHERE "
                      "table_schema = current_schema() AND table_type = 'BASE TABLE'")
    else:
        rows = tamper(store_url, "SELECT name FROM sqlite_master WHERE type = 'table'")
    return sorted(str(r[0]) for r in rows)


def _columns(store_url: str, table: str) -> list[str]:
    if store_url.startswith("postgresql://"):
        rows = tamper(store_url, "SELECT column_name FROM information_schema.columns WHERE "
                      "table_schema = current_schema() AND table_name = ?", (table,))
        return [str(r[0]) for r in rows]
    return [str(r[1]) for r in tamper(store_url, f'PRAGMA table_info("{table}")')]


def test_attack_rows_left_under_the_erased_pseudonym(store_url: str, keyring_path: Path) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.consent.grant(WHO, ["personalization"])
        p.profiles.put(WHO, {"name": "Ottoline"})
        p.audit.protected.put(WHO, {"sex": "female", "ethnicity": "group-b"})
        p.audit.protected.put("someone-else", {"sex": "male"})
        pseudo = p.keys.pseudonym(WHO)
        p.subjects.erase(WHO)
    left: list[str] = []
    for table in _tables(store_url):
        if table in _BY_DESIGN or "subject" not in _columns(store_url, table):
            continue
        rows = tamper(store_url, f'SELECT COUNT(*) FROM "{table}" WHERE subject = ?', (pseudo,))
        if rows[0][0]:
            left.append(f"{table}: {rows[0][0]} rows")
    assert not left, f"rows under the erased pseudonym: {left}"


def test_attack_protected_value_lengths_tell_nothing(store_url: str, keyring_path: Path) -> None:
    """While the person exists, a ciphertext's length does not give the attribute's value."""
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.audit.protected.put("short-label-1", {"sex": "male", "age": 7})
        p.audit.protected.put("long-label-1", {"sex": "female", "age": 61.25})
        p.audit.protected.put("longer-label-1", {"sex": "prefers-not-to-say-at-all", "age": True})
        people = [p.keys.pseudonym(s) for s in ("short-label-1", "long-label-1", "longer-label-1")]
        assert set(p.audit.protected.of_pseudonyms("sex", people).values()) == {
            "male", "female", "prefers-not-to-say-at-all"
        }
    rows = tamper(store_url, "SELECT name, value FROM protected_attributes")
    lengths = {(str(name), len(bytes(value))) for name, value in rows}  # type: ignore[arg-type]
    assert len(rows) == 6
    assert len({n for _, n in lengths}) == 1, f"ciphertext lengths differ: {sorted(lengths)}"
