"""Random pseudonyms behind the ``subject_index`` (issue 11 item 6): shape, races, reads that write
nothing, other processes after an erasure, and stores made with HMAC pseudonyms."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import tamper

from sdk import Personalizer
from sdk.crypto.field import pseudonym as hmac_pseudonym
from sdk.errors import SubjectErased, UnknownSubject
from sdk.keys import check_pseudonym

WHO = "pseudo.canary.7f3a@example.org"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "v1-store"


def _index_rows(store_url: str) -> int:
    return int(tamper(store_url, "SELECT count(*) FROM subject_index")[0][0])  # type: ignore[arg-type]


def test_pseudonyms_are_random_stable_and_32_hex(store_url: str, keyring_path: Path) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.profiles.put(WHO, {"name": "N"})
        first = p.keys.pseudonym(WHO)
        key = p.keyring.pseudonym_key
    assert check_pseudonym(first) == first
    assert first != hmac_pseudonym(key, WHO)  # not recomputable from the id
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        assert p.keys.pseudonym(WHO) == first  # one index row, read by every instance
        assert p.profiles.get(WHO) == {"name": "N"}


def test_reads_of_unknown_ids_write_nothing(store_url: str, keyring_path: Path) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.profiles.put("known", {"name": "K"})
        before = _index_rows(store_url)
        with pytest.raises(UnknownSubject):
            p.profiles.get("stranger")
        assert p.events.list("stranger") == []
        assert p.consent.history("stranger") == []
        assert not p.consent.state("stranger").allows("personalization")
        with pytest.raises(UnknownSubject):
            p.subjects.export("stranger")
        assert _index_rows(store_url) == before


_RACER = textwrap.dedent(
    """
    import sys, time
    from sdk import Personalizer
    with Personalizer.open(sys.argv[1], keyring=sys.argv[2]) as p:
        while time.time() < float(sys.argv[3]):
            time.sleep(0.001)
        print(p.keys.pseudonym(sys.argv[4]), flush=True)
    """
)


def test_two_processes_racing_for_a_new_id_agree(store_url: str, keyring_path: Path) -> None:
    with Personalizer.open(store_url, keyring=keyring_path):
        pass  # create the store and the keyring first
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for attempt in range(3):
        who = f"racer-{attempt}@example.org"
        start = str(time.time() + 2.0)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _RACER, store_url, str(keyring_path), start, who],
                stdout=subprocess.PIPE, text=True, env=env,
            )
            for _ in range(2)
        ]
        names = {proc.communicate(timeout=120)[0].strip() for proc in procs}
        assert all(proc.returncode == 0 for proc in procs)
        assert len(names) == 1, "two processes gave one new id different pseudonyms"
        with Personalizer.open(store_url, keyring=keyring_path) as p:
            assert p.keys.pseudonym(who) == names.pop()


def test_another_process_stops_serving_an_erased_id(store_url: str, keyring_path: Path) -> None:
    with (
        Personalizer.open(store_url, keyring=keyring_path) as a,
        Personalizer.open(store_url, keyring=keyring_path) as b,
        Personalizer.open(store_url, keyring=keyring_path) as c,
        Personalizer.open(store_url, keyring=keyring_path) as d,
    ):
        a.consent.grant(WHO, ["personalization"])
        a.profiles.put(WHO, {"name": "N"})
        old = b.keys.pseudonym(WHO)  # b, c and d cache it
        assert d.keys.pseudonym(WHO) == old
        assert b.profiles.get(WHO) == {"name": "N"} == c.profiles.get(WHO)
        a.subjects.erase(WHO)
        c.views.catch_up()  # c folds the erasure entry: it drops the cached pseudonym
        assert c.keys.pseudonym(WHO) == a.keys.pseudonym(WHO) != old
        with pytest.raises(SubjectErased):
            b.profiles.get(WHO)  # the key row says erased: b drops its cached pseudonym
        fresh = b.keys.pseudonym(WHO)
        assert fresh != old and fresh == a.keys.pseudonym(WHO)
        with pytest.raises(SubjectErased):
            b.profiles.put(WHO, {"name": "again"})
        assert d.keys.pseudonym(WHO) == old  # d has not caught up yet: still the cached one
        sql = "SELECT count(*) FROM ledger WHERE subject = ?"
        before = tamper(store_url, sql, (old,))
        d.consent.withdraw(WHO, "personalization")  # later consent does not join the old history
        with pytest.raises(SubjectErased):  # and an erased id takes no new consent
            b.consent.grant(WHO, ["personalization"])
        assert tamper(store_url, sql, (old,)) == before
        assert d.keys.pseudonym(WHO) == fresh


def test_a_legacy_store_keeps_its_hmac_pseudonyms(tmp_path: Path) -> None:
    for name in ("v1.db", "v1.keyring.json"):
        shutil.copyfile(FIXTURE / name, tmp_path / name)
    keyring = tmp_path / "v1.keyring.json"
    keyring.chmod(0o600)
    expected = json.loads((FIXTURE / "expected.json").read_text())
    key = base64.b64decode(json.loads(keyring.read_text())["pseudonym_key"])
    db = tmp_path / "v1.db"
    url = str(db)
    with Personalizer.open(db, keyring=keyring) as p:
        assert tamper(url, "SELECT value FROM whylens_meta WHERE key = 'pseudonyms'") == [
            ("hmac-v1",)
        ]
        assert p.keys.pseudonym("member-0") == hmac_pseudonym(key, "member-0")
        assert p.profiles.get("member-0") == expected["profiles"]["member-0"]
        assert p.keys.pseudonym("member-2") == expected["erased_pseudonym"]
        new = p.keys.pseudonym("newcomer")  # nothing under its HMAC name: a random one
        assert new != hmac_pseudonym(key, "newcomer")
        p.profiles.put("newcomer", {"name": "New"})
        p.subjects.erase("member-1")  # a legacy subject erased now: the index moves away
        assert p.keys.pseudonym("member-1") != hmac_pseudonym(key, "member-1")
        with pytest.raises(SubjectErased):
            p.profiles.get("member-1")
    indexed = {row[0] for row in tamper(url, "SELECT subject FROM subject_index")}
    assert hmac_pseudonym(key, "member-0") in indexed and new in indexed
    with Personalizer.open(db, keyring=keyring) as p:
        assert p.keys.pseudonym("newcomer") == new
        with pytest.raises(SubjectErased):
            p.profiles.get("member-1")


def test_a_store_created_new_is_not_marked_legacy(db_path: Path, keyring_path: Path) -> None:
    with Personalizer.open(db_path, keyring=keyring_path) as p:
        p.profiles.put(WHO, {"name": "N"})
    assert tamper(str(db_path), "SELECT value FROM whylens_meta WHERE key = 'pseudonyms'") == []
