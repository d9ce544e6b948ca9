"""The ledger (issue 3): durable appends with group commit next to a raw SQLite insert loop, and
Merkle proofs at 1,000,000 entries.

* raw SQLite: the same table shape, WAL, ``synchronous=FULL``, one ``INSERT`` + ``COMMIT`` per row
  (what "durable" costs without batching), and the same rows in one transaction (the ceiling);
* ``Ledger.append`` from 1 thread and from 128 threads (group commit shares fsyncs), durability
  FULL: each call returns only after its transaction committed; every commit also writes the leaf
  hashes and an Ed25519-signed checkpoint;
* ``verify()`` over 65,536 entries of 2 KB, in this process and with one worker process per core
  (issue 17's goal: at least 200,000 entries/s);
* a 1,000,000-entry ledger (written with the ledger's own encoders, see :func:`bulk_fill`): time
  for a fresh process to load the tree, inclusion and consistency proof generation, offline
  verification, and the next append (which checks the loaded tree against the signed root).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from _timing import goal

from sdk.crypto.keyring import Keyring
from sdk.ledger import (
    GENESIS_HASH,
    Ledger,
    MerkleTree,
    leaf_hash,
    sign_checkpoint,
    verify_consistency_proof,
    verify_inclusion_proof,
)
from sdk.ledger.entry import body_hash, encode_body, format_ts
from sdk.ledger.parallel import default_workers
from sdk.ledger.tree import CHECKPOINT_KEY
from sdk.ledger.verify import HEAD_KEY, encode_head, verify_ledger
from sdk.store import Database, Durability

KEY = b"k" * 32
SUBJECT = "0123456789abcdef0123456789abcdef"
DATA = {"purposes": ["personalization", "analytics"], "notice": None, "source": "web"}
BIG = 1_000_000
VERIFY_ROWS = 1 << 16


def raw_sqlite(path: Path, n: int, *, batch: bool) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE t (seq INTEGER PRIMARY KEY, stream TEXT, kind TEXT, subject TEXT, ts TEXT, "
        "body BLOB, prev_hash BLOB, hash BLOB)"
    )
    row = (
        "consent",
        "consent.grant",
        SUBJECT,
        "2026-01-01T00:00:00.000000Z",
        b"x" * 300,
        b"p" * 32,
        b"h" * 32,
    )
    start = time.perf_counter()
    if batch:
        conn.execute("BEGIN")
    for i in range(n):
        if not batch:
            conn.execute("BEGIN")
        conn.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (i + 1, *row))
        if not batch:
            conn.execute("COMMIT")
    if batch:
        conn.execute("COMMIT")
    took = time.perf_counter() - start
    conn.close()
    return n / took


def ledger_appends(folder: Path, ring: Keyring, threads: int, per_thread: int) -> tuple[float, str]:
    db = Database.open(folder / f"ledger-{threads}.db", durability=Durability.FULL)
    ledger = Ledger(db, mac_key=KEY, signer=ring, origin="bench/ledger")
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        barrier.wait()
        for _ in range(per_thread):
            ledger.append("consent", "consent.grant", DATA, subject=SUBJECT)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for th in pool:
        th.start()
    barrier.wait()
    start = time.perf_counter()
    for th in pool:
        th.join()
    took = time.perf_counter() - start
    stats = ledger.stats
    info = f"{stats.commits} commits, largest batch {stats.largest_batch}"
    assert ledger.verify().ok
    db.close()
    return threads * per_thread / took, info


def bulk_fill(path: Path, ring: Keyring, n: int, *, pad: int = 0) -> None:
    """A valid n-entry ledger written straight with the ledger's own encoders (append_many runs
    at tens of thousands of entries per second here; this keeps the benchmark short)."""
    ts = format_ts(datetime.now(UTC))
    prev = GENESIS_HASH
    tree = MerkleTree()
    db = Database.open(path, durability=Durability.NORMAL)
    Ledger(db, mac_key=KEY, signer=ring, origin="bench/big")  # creates the leaves table
    chunk = 50_000
    with db.transaction() as tx:
        for base in range(0, n, chunk):
            rows, leaves = [], []
            for seq in range(base + 1, min(n, base + chunk) + 1):
                body = encode_body(
                    seq=seq,
                    stream="audit",
                    kind="decision",
                    subject=None,
                    ts=ts,
                    data_bytes=b'{"i":%d,"pad":"%s"}' % (seq, b"x" * pad)
                    if pad
                    else b'{"i":%d}' % seq,
                    prev=prev,
                )
                digest = body_hash(body)
                rows.append((seq, "audit", "decision", None, ts, body, bytes.fromhex(prev), digest))
                leaves.append((seq, leaf_hash(body)))
                prev = digest.hex()
            tx.executemany("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            tx.executemany("INSERT INTO ledger_leaves VALUES (?, ?)", leaves)
            tree.extend([leaf for _, leaf in leaves])
        tx.set_meta(HEAD_KEY, encode_head(KEY, n, prev))
        tx.set_meta(CHECKPOINT_KEY, sign_checkpoint("bench/big", n, tree.root(), ring).note)
    db.close()


def proofs_at_a_million(folder: Path, ring: Keyring) -> None:
    path = folder / "big.db"
    start = time.perf_counter()
    bulk_fill(path, ring, BIG)
    fill = time.perf_counter() - start
    db = Database.open(path)
    fresh = Ledger(db, mac_key=KEY, signer=ring, origin="bench/big")
    start = time.perf_counter()
    first = fresh.prove(1)  # loads the tree of 1,000,000 leaf hashes
    load = time.perf_counter() - start
    cp = fresh.checkpoint()
    seqs = [1 + (i * 7919) % BIG for i in range(2000)]
    times = []
    for seq in seqs:
        t0 = time.perf_counter()
        fresh.prove(seq)
        times.append(time.perf_counter() - t0)
    body = fresh.body(seqs[-1])
    t0 = time.perf_counter()
    verify_inclusion_proof(body, fresh.prove(seqs[-1]), cp, ring.public_key_bytes())
    verify_one = time.perf_counter() - t0
    ctimes = []
    for old in (1, 1000, 123_457, 500_000, 999_999):
        t0 = time.perf_counter()
        proof = fresh.prove_consistency(old)
        ctimes.append(time.perf_counter() - t0)
    old_cp = fresh.checkpoint(123_457)
    verify_consistency_proof(old_cp, cp, fresh.prove_consistency(123_457), ring.public_key_bytes())
    t0 = time.perf_counter()
    fresh.append("audit", "decision", {"i": 0})
    append_s = time.perf_counter() - t0
    db.close()
    print(
        f"\n1,000,000-entry ledger: written in {fill:.1f}s; a fresh Ledger loads its tree in "
        f"{load:.2f}s (first proof, {len(first.path)} hashes); the next append, which checks "
        f"the loaded tree against the signed root, {append_s:.3f}s"
    )
    print(
        f"  inclusion proof: median {statistics.median(times) * 1e6:.1f} us, "
        f"p99 {sorted(times)[len(times) * 99 // 100] * 1e6:.1f} us over {len(times)} entries "
        f"(Merkle path of 20 hashes); offline verify incl. Ed25519 checkpoint signature "
        f"{verify_one * 1e6:.0f} us"
    )
    print(
        f"  consistency proof: median {statistics.median(ctimes) * 1e6:.1f} us "
        f"(5 old sizes); proof size {len(proof.path)} hashes"
    )


def verify_rate(folder: Path, ring: Keyring) -> None:
    """``verify()`` over VERIFY_ROWS entries of 2 KB: in this process only, and on every core."""
    path = folder / "verify.db"
    bulk_fill(path, ring, VERIFY_ROWS, pad=1800)
    db = Database.open(path)
    ledger = Ledger(db, mac_key=KEY, signer=ring, origin="bench/big")
    rows = ledger._rows
    public = ring.public_key_bytes()
    mean = statistics.mean(len(rows.body(s) or b"") for s in (1, VERIFY_ROWS // 2, VERIFY_ROWS))
    rates = {}
    for workers in (0, None):
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            report = verify_ledger(
                rows, KEY, public_key=public, origin="bench/big", workers=workers
            )
            best = min(best, time.perf_counter() - t0)
            assert report.ok, report.problem
        rates[workers] = VERIFY_ROWS / best
    db.close()
    floor = raw_verify_floor(path)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"\nledger.verify() over {VERIFY_ROWS:,} entries of {mean:,.0f} bytes (chain, head, "
        f"Merkle, signed checkpoint); load average {load}"
    )
    print(f"  in this process: {rates[0]:>10,.0f} entries/s")
    print(
        f"  {default_workers()} worker processes: {rates[None]:>10,.0f} entries/s "
        f"({rates[None] / rates[0]:.2f}x)"
    )
    cores = max(default_workers(), 1)
    print(
        f"  raw floor, one core (sqlite3 reads the walk's columns, hashlib hashes each body "
        f"twice, nothing else checked): {floor:>10,.0f} entries/s; in this process "
        f"{rates[0] / floor:.2f}x of it; {cores} cores at best {cores * floor:,.0f}/s, the "
        f"workers {rates[None] / (cores * floor):.2f}x of that"
    )
    goal("ledger.verify(), 2 KB entries, entries/s", rates[None], 200_000, unit="/s")


def raw_verify_floor(path: Path) -> float:
    """What the raw libraries need per entry for the least any verify must do: read the row
    (the columns the walk reads, in pages of 2,048) and SHA-256 its body twice (the chain hash
    and the RFC 9162 leaf). Best of two passes."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.execute("PRAGMA mmap_size=1073741824")
    query = (
        "SELECT l.seq, l.stream, l.kind, l.subject, l.ts, l.body, l.prev_hash, l.hash, t.leaf "
        "FROM ledger l LEFT JOIN ledger_leaves t ON t.seq = l.seq "
        "WHERE l.seq > ? ORDER BY l.seq LIMIT ?"
    )
    sha = hashlib.sha256
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        done = 0
        while done < VERIFY_ROWS:
            rows = conn.execute(query, (done, 2048)).fetchall()
            for row in rows:
                sha(row[5]).digest()
                sha(b"\x00" + row[5]).digest()
            done += len(rows)
        best = min(best, time.perf_counter() - t0)
    conn.close()
    return VERIFY_ROWS / best


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ring = Keyring.create(folder / "ring.json")
        n = 1500
        raw_each = raw_sqlite(folder / "raw1.db", n, batch=False)
        raw_batch = raw_sqlite(folder / "raw2.db", 50_000, batch=True)
        one, one_info = ledger_appends(folder, ring, 1, n)
        many, many_info = ledger_appends(folder, ring, 128, 150)
        print(f"{'durable appends (synchronous=FULL)':<46} {'per s':>10} {'vs raw loop':>12}")
        print(f"{'raw SQLite: INSERT+COMMIT per row':<46} {raw_each:>10,.0f} {1.0:>11.2f}x")
        print(
            f"{'raw SQLite: all rows in one transaction':<46} {raw_batch:>10,.0f} "
            f"{raw_batch / raw_each:>11.2f}x"
        )
        print(
            f"{'Ledger.append, 1 thread':<46} {one:>10,.0f} {one / raw_each:>11.2f}x  ({one_info})"
        )
        print(
            f"{'Ledger.append, 128 threads (group commit)':<46} {many:>10,.0f} "
            f"{many / raw_each:>11.2f}x  ({many_info})"
        )
        print(
            "(each Ledger commit also stores leaf hashes, the HMAC head and a signed "
            f"checkpoint; goal >= 5,000/s; {os.cpu_count()} CPUs)"
        )
        proofs_at_a_million(folder, ring)
        verify_rate(folder, ring)


if __name__ == "__main__":
    main()
