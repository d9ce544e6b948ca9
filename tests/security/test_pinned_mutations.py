"""10,000 random single-byte mutations of an export's files, and 10,000 of ledger rows in a store,
are every one caught, with the first bad file, line or index named.

Reproducible (fixed seeds) and bounded: a small store, the export's files mutated in place and
restored, a ledger row rewritten through SQL and restored by rewriting that one row. Measured on
the shared 2-core box at load average ~16: 117 s (export) and 65 s (ledger rows); on an idle
core that is roughly a tenth of it.
"""

from __future__ import annotations

import random
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _exports import decide_some
from conftest import feature_row, german_credit

from sdk import Personalizer
from sdk.audit import verify_export

N_MUTATIONS = 10_000
BUDGET_S = 240  # see the timings in the module docstring; this bound only catches a runaway


def _mutate(rng: random.Random, data: bytes) -> tuple[bytes, int]:
    at = rng.randrange(len(data))
    new = rng.randrange(255)
    new += new >= data[at]  # any byte but the one there
    return data[:at] + bytes([new]) + data[at + 1 :], at


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    root = tmp_path_factory.mktemp("mutations")
    with Personalizer.open(root / "shop.db", keyring=root / "shop.keyring.json") as p:
        decide_some(p, 0)  # the consent grants and the signed-off model
        since = datetime.now(UTC)
        frame, schema = german_credit()
        for i in range(5):
            p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i), model="credit")
        held = p.reviews.pending()[0]
        other = "declined" if held.automated_outcome == "approved" else "approved"
        p.reviews.assess(held.decision_id, reviewer="rev.1", outcome=other)
        p.reviews.override(held.decision_id, outcome=other, reviewer="rev.1", reason="checked")
        # a short segment (the decisions and the review), so 10,000 verifications stay quick
        manifest = p.audit.export(root / "export", format="jsonl", since=since)
        assert manifest.first_seq is not None and manifest.first_seq > 1
        return root / "export", p.keyring.public_key_bytes()


def test_every_single_byte_mutation_of_an_export_is_caught_and_located(
    export: tuple[Path, bytes],
) -> None:
    folder, key = export
    files = {
        name: (folder / name).read_bytes()
        for name in ("manifest.json", "ledger.jsonl", "records.jsonl")
    }
    first_seq = int(files["ledger.jsonl"].split(b",", 1)[0].removeprefix(b'{"seq":'))
    sizes = {name: len(data) for name, data in files.items()}
    names = list(files)
    assert verify_export(folder, trust=key).ok
    rng = random.Random(20261201)
    started = time.perf_counter()
    seen: dict[str, int] = dict.fromkeys(names, 0)
    for trial in range(N_MUTATIONS):
        name = rng.choices(names, weights=[sizes[n] for n in names])[0]
        original = files[name]
        mutated, at = _mutate(rng, original)
        path = folder / name
        path.write_bytes(mutated)
        try:
            report = verify_export(folder, trust=key)
        finally:
            path.write_bytes(original)
        where = f"trial {trial}: {name} byte {at}"
        assert not report.ok, where
        problem = report.problem or ""
        line = original.count(b"\n", 0, at) + 1  # the line holding the byte (its \n included)
        if name == "manifest.json":
            assert problem.startswith("manifest"), (where, problem)
        elif name == "ledger.jsonl":
            assert "ledger.jsonl" in problem, (where, problem)
            assert report.first_bad == first_seq + line - 1, (where, problem)
        else:
            assert "records.jsonl" in problem, (where, problem)
            row = original.split(b"\n")[line - 1]
            row_seq = int(row.split(b",", 1)[0].removeprefix(b'{"seq":'))
            assert report.first_bad in (None, row_seq), (where, problem)
        seen[name] += 1
    elapsed = time.perf_counter() - started
    assert all(seen.values()), seen  # every file was mutated
    assert verify_export(folder, trust=key).ok  # restored
    assert elapsed < BUDGET_S, f"{N_MUTATIONS} mutations took {elapsed:.0f} s"


# (column, is it a blob): what an attacker with the database file edits
_COLUMNS = (("body", True), ("hash", True), ("stream", False), ("kind", False), ("ts", False))


def test_every_single_byte_mutation_of_a_ledger_row_is_caught_at_its_index(
    tmp_path: Path,
) -> None:
    db = tmp_path / "shop.db"
    with Personalizer.open(db, keyring=tmp_path / "shop.keyring.json") as p:
        for i in range(12):
            p.consent.grant(f"cust-{i}", "personalization")
        p.consent.withdraw("cust-3", "personalization")
        size = p.ledger.size
        assert p.ledger.verify().ok
        raw = sqlite3.connect(db, isolation_level=None)  # the attacker's own connection
        try:
            rows = {
                seq: dict(zip([c for c, _ in _COLUMNS], values, strict=True))
                for seq, *values in raw.execute(
                    "SELECT seq, " + ", ".join(c for c, _ in _COLUMNS) + " FROM ledger"
                )
            }
            assert len(rows) == size
            rng = random.Random(1201)
            started = time.perf_counter()
            for trial in range(N_MUTATIONS):
                seq = rng.randint(1, size)
                column, blob = rng.choice(_COLUMNS)
                original = rows[seq][column]
                data = original if blob else original.encode()
                mutated, at = _mutate(rng, data)
                value: object = mutated
                if not blob:
                    try:
                        value = mutated.decode()
                    except UnicodeDecodeError:
                        value = mutated  # a text column holding bytes: still an edit
                raw.execute(f"UPDATE ledger SET {column} = ? WHERE seq = ?", (value, seq))
                try:
                    report = p.ledger.verify()
                finally:
                    raw.execute(f"UPDATE ledger SET {column} = ? WHERE seq = ?", (original, seq))
                where = f"trial {trial}: entry {seq} column {column} byte {at}"
                assert not report.ok, where
                assert report.first_bad == seq, (where, report.problem)
            elapsed = time.perf_counter() - started
        finally:
            raw.close()
        assert p.ledger.verify().ok  # restored
    assert elapsed < BUDGET_S, f"{N_MUTATIONS} mutations took {elapsed:.0f} s"
