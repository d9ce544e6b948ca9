"""After ``subjects.erase``: rows about the erased person left in tables erasure does not touch
(found by the adversarial review of issue 11; database only).

Erasure deletes profile fields, events, blind-index entries, the integrity seal and the old key
versions, and leaves a key tombstone and the ledger's pseudonymous entries. The protected
attributes kept for bias audits (sex, ethnicity, ...) are not deleted: their rows stay under the
erased pseudonym with their update time, and an AES-GCM ciphertext is as long as its plaintext
plus a constant, so ``"female"`` and ``"male"`` are told apart without any key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
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


@pytest.mark.xfail(
    strict=True,
    reason="SubjectRights.erase does not delete protected_attributes rows (ProtectedStorage has "
    "no delete): the erased pseudonym's rows stay, with their update time and ciphertext "
    "lengths that give the plaintext's length. Needs ProtectedStorage.delete_subject on both "
    "backends, called in the erasure transaction (sdk/subjects/rights.py)",
)
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
