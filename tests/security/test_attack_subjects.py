"""Attacks on the id -> pseudonym link, found by the adversarial review of issue 11.

* **Two rows of ``subject_index`` swapped** (database only): nothing binds a token to its
  pseudonym, so one person's access request returns another person's profile, and erasing one
  person erases the other. ``verify()`` stays ok.
* **After an erasure, the row order links the id to the erased pseudonym** (database +
  keyring): erasure re-points the id's index row in place, so on SQLite the row keeps its rowid
  (the id's rank in creation order, the same rank as its pseudonym's first ledger entry), and
  on PostgreSQL the re-pointed index row and the destroyed key row carry the erasure
  transaction's ``xmin``. Either leads from the id to every ledger entry of the person.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import tamper

from sdk import Personalizer
from sdk.crypto.keyring import Keyring
from sdk.errors import SubjectDataTampered
from sdk.keys.pseudonyms import subject_token


def test_attack_swapped_index_rows_hand_one_person_the_other_s_data(
    store_url: str, keyring_path: Path
) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        for who, city in (("alice", "Lyon"), ("bob", "Oslo")):
            p.consent.grant(who, ["personalization"])
            p.profiles.put(who, {"name": who.title(), "city": city})
        alice, bob = p.keys.pseudonym("alice"), p.keys.pseudonym("bob")
    # database only: swap where the two tokens point (no key needed)
    tamper(store_url, "UPDATE subject_index SET subject = 'swap' WHERE subject = ?", (alice,))
    tamper(store_url, "UPDATE subject_index SET subject = ? WHERE subject = ?", (alice, bob))
    tamper(store_url, "UPDATE subject_index SET subject = ? WHERE subject = 'swap'", (bob,))
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        try:
            served = p.subjects.export("alice").profile
        except SubjectDataTampered:
            return  # caught: the swapped link is refused
        assert served.get("name") == "Alice", f"alice was handed {served}"
        p.subjects.erase("alice")
        assert p.profiles.get("bob")["name"] == "Bob", "erasing alice erased bob"


def _has_rowid(store_url: str, table: str) -> bool:
    [(sql,)] = tamper(store_url, "SELECT sql FROM sqlite_master WHERE name = ?", (table,))
    return "WITHOUT ROWID" not in str(sql).upper()


def _erased_pseudonym_found_from_the_id(store_url: str, ring: Keyring, who: str) -> str | None:
    """What an attacker with the database and the keyring reads off the rows' order."""
    token = subject_token(ring.pseudonym_key, who)
    if store_url.startswith("postgresql://"):
        [(xmin,)] = tamper(store_url, "SELECT xmin::text FROM subject_index WHERE token = ?",
                           (token,))
        rows = tamper(store_url, "SELECT subject FROM subject_keys WHERE xmin::text = ? AND "
                      "erased IS NOT NULL", (xmin,))
        return str(rows[0][0]) if len(rows) == 1 else None
    if not _has_rowid(store_url, "subject_index"):
        return None  # no rowid to rank by: what order is left, _physical_order_says_nothing checks
    tokens = [bytes(t) for (t,) in tamper(store_url, "SELECT token FROM subject_index "
                                          "ORDER BY rowid")]  # type: ignore[arg-type]
    first_seen: list[str] = []
    for (subject,) in tamper(store_url, "SELECT subject FROM ledger WHERE subject IS NOT NULL "
                             "ORDER BY seq"):
        if subject not in first_seen:
            first_seen.append(str(subject))
    return first_seen[tokens.index(token)]


def _physical_order_says_nothing(store_url: str, ring: Keyring, erased_ids: list[str]) -> None:
    """The order an attacker can still read depends on the random keys alone, and the rows on
    the erased side (ids' rows, their tombstones) were all written together."""
    if store_url.startswith("postgresql://"):
        tokens = [subject_token(ring.pseudonym_key, who) for who in erased_ids]
        rows = tamper(store_url, "SELECT token, subject, xmin::text, ctid::text FROM "
                      "subject_index WHERE token = ANY(?)", (tokens,))
        stones = [str(r[1]) for r in rows]
        keys = tamper(store_url, "SELECT subject, xmin::text, ctid::text FROM subject_keys "
                      "WHERE subject = ANY(?)", (stones,))
        assert len({r[2] for r in rows} | {k[1] for k in keys}) == 1, "one xmin per erasure"
        erased_keys = tamper(store_url, "SELECT xmin::text FROM subject_keys "
                             "WHERE erased IS NOT NULL")
        assert not {r[2] for r in rows} & {k[0] for k in erased_keys}

        def place(ctid: object) -> tuple[int, int]:
            block, offset = str(ctid).strip("()").split(",")
            return int(block), int(offset)

        by_place = [bytes(r[0]) for r in sorted(rows, key=lambda r: place(r[3]))]
        assert by_place == sorted(by_place), "erased ids' rows stored in token order"
        stones_by_place = [str(k[0]) for k in sorted(keys, key=lambda k: place(k[2]))]
        assert stones_by_place == sorted(stones_by_place), "tombstones stored in key order"
        return
    kek_versions = tamper(store_url, "SELECT DISTINCT kek_version FROM subject_keys "
                          "WHERE wrapped IS NULL AND erased IS NULL")
    assert len(kek_versions) == 1, "tombstones carry one KEK version, not each erasure's own"
    for table, key in (("subject_index", "token"), ("subject_keys", "subject")):
        assert not _has_rowid(store_url, table), f"{table} has a rowid (a creation rank)"
        # every column: a scan of the table's own B-tree, not of the covering subject index
        stored = [r[0] for r in tamper(store_url, f"SELECT {key}, * FROM {table}")]
        assert stored == sorted(stored), f"{table} is stored in the order of its random keys"


def test_attack_the_row_order_links_an_erased_id_to_its_pseudonym(
    store_url: str, keyring_path: Path
) -> None:
    people = [f"person-{i}@example.org" for i in range(12)]
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        for i, who in enumerate(people):
            p.consent.grant(who, ["personalization"])
            if i % 2:
                p.profiles.put(who, {"name": f"N{i}"})
        truth = {who: p.keys.pseudonym(who) for who in people}
        victims = [people[7], people[3]]
        for who in victims:
            p.subjects.erase(who)
    ring = Keyring.load(keyring_path)
    for who in victims:
        found = _erased_pseudonym_found_from_the_id(store_url, ring, who)
        assert found != truth[who], f"{who} linked to their erased pseudonym by row order"
    _physical_order_says_nothing(store_url, ring, victims)


def test_attack_a_row_pointed_at_someone_erased_is_not_blessed_by_the_erasure(
    store_url: str, keyring_path: Path
) -> None:
    """Bob's row re-pointed at Alice's pseudonym (database only): erasing Alice moves only the
    rows whose tag proves they were Alice's, so Bob's forged row does not get a valid tag (it
    would have made Bob look erased) and still says tampered."""
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        for who in ("alice", "bob"):
            p.consent.grant(who, ["personalization"])
            p.profiles.put(who, {"name": who.title()})
        alice, bob = p.keys.pseudonym("alice"), p.keys.pseudonym("bob")
    tamper(store_url, "UPDATE subject_index SET subject = ? WHERE subject = ?", (alice, bob))
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.subjects.erase("alice")
    with Personalizer.open(store_url, keyring=keyring_path) as p, pytest.raises(
        SubjectDataTampered
    ):
        p.profiles.get("bob")
    tamper(store_url, "UPDATE subject_index SET subject = ? WHERE subject = ?", (bob, alice))
    with Personalizer.open(store_url, keyring=keyring_path) as p:  # the original row is fine
        assert p.profiles.get("bob") == {"name": "Bob"}
