"""Exports: JSON Lines, CSV and Parquet, the model filter, offline verify naming the failure."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import feature_row, german_credit
from typer.testing import CliRunner

from sdk import Personalizer, ReviewPolicy
from sdk.audit import verify_export
from sdk.audit.export import _signed_bytes
from sdk.audit.export_format import manifest_bytes
from sdk.cli import app
from sdk.errors import ConfigurationError, ModelNotFound

CANARY_SUBJECT = "canary-subject-7Q4Z"
CANARY_MESSAGE = "CANARY-contest-message-XK81"
CANARY_AMOUNT = 987654.321
CANARY_GROUP = "CANARY-group-PL2"


@pytest.fixture
def two_models(p: Personalizer):
    frame, schema = german_credit()
    frame = frame.iloc[:120].reset_index(drop=True)
    subjects = [*frame["subject"], CANARY_SUBJECT]
    for subject in subjects:
        p.consent.grant(subject, "profiling")
    for name in ("credit", "credit-b"):
        _card = p.models.train_classifier(
            name,
            frame,
            schema,
            target="good",
            outcomes=("declined", "approved"),
            review_policy=ReviewPolicy(uncertainty_band=(0.3, 0.7)),
            num_boost_round=15,
        )
        p.models.sign_off(_card.name, _card.version, reviewer="lead")
    ids = {"credit": [], "credit-b": []}
    for i in range(24):
        model = "credit" if i % 3 else "credit-b"
        d = p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i), model=model)
        ids[model].append(d.decision_id)
    row = feature_row(frame, schema, 0)
    row["credit_amount"] = CANARY_AMOUNT
    canary = p.decide(CANARY_SUBJECT, row, model="credit")
    p.contest(canary.decision_id, message=CANARY_MESSAGE)
    p.reviews.override(canary.decision_id, outcome="approved", reviewer="rev.1", reason="checked")
    p.audit.protected.put(CANARY_SUBJECT, {"sex": CANARY_GROUP})
    p.audit.record_outcome(ids["credit-b"][0], "approved")
    return p, ids, canary.decision_id


def _resign(folder: Path, p: Personalizer, **changes) -> None:
    """What only the key holder could do: re-hash the files and sign a new manifest."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    manifest["files"] = {
        n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in manifest["files"]
    }
    manifest["signature"] = base64.b64encode(p.keyring.sign(_signed_bytes(manifest))).decode()
    path.write_bytes(manifest_bytes(manifest))


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_each_format_verifies_and_any_byte_change_is_named(two_models, tmp_path, fmt) -> None:
    p, _, _ = two_models
    folder = tmp_path / fmt
    manifest = p.audit.export(folder, format=fmt)
    assert manifest.format == fmt and manifest.records == p.ledger.size
    assert manifest.selected == p.ledger.entry_count("audit")
    report = verify_export(folder, public_key=manifest.public_key)
    assert report.ok, report.problem
    assert report.checked == manifest.records
    records = folder / f"records.{fmt}"
    original = records.read_bytes()
    for position in range(0, len(original), max(1, len(original) // 40)):
        changed = bytearray(original)
        changed[position] ^= 0x01
        records.write_bytes(bytes(changed))
        bad = verify_export(folder, trust=p.keyring.public_key_bytes())
        assert (
            not bad.ok
            and bad.problem is not None
            and bad.problem.startswith(
                f"file records.{fmt}: SHA-256 does not match the manifest (altered)"
            )
        )
    records.write_bytes(original)
    assert verify_export(folder, trust=p.keyring.public_key_bytes()).ok


def test_parquet_opens_in_pandas_and_duckdb(two_models, tmp_path) -> None:
    import duckdb
    import pandas as pd

    p, ids, _ = two_models
    manifest = p.audit.export(tmp_path / "pq", format="parquet", model="credit")
    path = tmp_path / "pq" / "records.parquet"
    frame = pd.read_parquet(path)
    assert len(frame) == manifest.selected
    assert set(ids["credit"]) <= set(frame["decision_id"])
    assert set(frame["model"]) == {"credit"}
    assert frame["probability"].dropna().between(0, 1).all()
    con = duckdb.connect()
    n, models = con.execute(
        f"SELECT count(*), count(DISTINCT model) FROM read_parquet('{path}')"
    ).fetchone()
    assert n == manifest.selected and models == 1
    by_kind = dict(
        con.execute(f"SELECT kind, count(*) FROM read_parquet('{path}') GROUP BY kind").fetchall()
    )
    assert by_kind["decision"] == len(ids["credit"]) + 1


def test_model_filter_and_time_window_are_checked_record_by_record(two_models, tmp_path) -> None:
    p, ids, _ = two_models
    folder = tmp_path / "b"
    manifest = p.audit.export(folder, format="jsonl", model="credit-b")
    rows = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    assert [r["decision_id"] for r in rows if r["kind"] == "decision"] == ids["credit-b"]
    assert {r["kind"] for r in rows} == {"decision", "outcome.actual"}
    assert (
        manifest.model == "credit-b"
        and verify_export(folder, trust=p.keyring.public_key_bytes()).ok
    )

    # dropping one selected record, even re-signed by the key holder, is named
    kept = "".join(
        line + "\n"
        for line in (folder / "records.jsonl").read_text().splitlines()
        if json.loads(line)["decision_id"] != ids["credit-b"][2]
    )
    dropped = tmp_path / "dropped"
    shutil.copytree(folder, dropped)
    (dropped / "records.jsonl").write_text(kept)
    _resign(dropped, p, selected=manifest.selected - 1)
    bad = verify_export(dropped, trust=p.keyring.public_key_bytes())
    assert not bad.ok and "added, dropped or reordered" in (bad.problem or "")

    # a column that no longer matches its body is named, even when re-signed
    edited = tmp_path / "edited"
    shutil.copytree(folder, edited)
    lines = (edited / "records.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["outcome"] = "approved" if first["outcome"] == "declined" else "declined"
    lines[0] = json.dumps(first, separators=(",", ":"))
    (edited / "records.jsonl").write_text("\n".join(lines) + "\n")
    _resign(edited, p)
    bad = verify_export(edited, trust=p.keyring.public_key_bytes())
    assert not bad.ok and bad.problem == (
        f"records.jsonl record {first['seq']}: column outcome does not match its body"
    )
    assert bad.first_bad == first["seq"]

    # a window in the future is empty but still a valid, signed export
    later = datetime.now(UTC) + timedelta(days=1)
    empty = p.audit.export(tmp_path / "empty", format="csv", since=later)
    assert empty.records == 0 and empty.selected == 0
    assert verify_export(tmp_path / "empty", trust=p.keyring.public_key_bytes()).ok
    with pytest.raises(ConfigurationError):
        p.audit.export(tmp_path / "naive", since=datetime(2026, 1, 1))
    with pytest.raises(ConfigurationError, match="format"):
        p.audit.export(tmp_path / "x", format="xml")


def test_chain_byte_change_is_named_with_its_entry(two_models, tmp_path) -> None:
    p, _, _ = two_models
    folder = tmp_path / "e"
    p.audit.export(folder, format="csv")
    ledger = folder / "ledger.jsonl"
    lines = ledger.read_bytes().splitlines(keepends=True)
    target = 5
    line = lines[target - 1]
    changed = line.replace(b'"kind":"', b'"kind":"x', 1)
    lines[target - 1] = changed
    ledger.write_bytes(b"".join(lines))
    located = verify_export(folder, trust=p.keyring.public_key_bytes())
    assert located.problem == (
        "file ledger.jsonl: SHA-256 does not match the manifest (altered); "
        f"first bad: entry {target}: bytes do not match their hash"
    )
    assert located.first_bad == target
    _resign(folder, p)
    bad = verify_export(folder, trust=p.keyring.public_key_bytes())
    assert not bad.ok and bad.first_bad == target
    assert bad.problem == f"entry {target}: bytes do not match their hash"


def test_canaries_never_appear_in_exports(two_models, tmp_path) -> None:
    p, _, _ = two_models
    needles = [CANARY_SUBJECT, CANARY_MESSAGE, repr(CANARY_AMOUNT), "987654", CANARY_GROUP]
    for fmt in ("jsonl", "csv", "parquet"):
        folder = tmp_path / fmt
        p.audit.export(folder, format=fmt)
        blob = b"".join(f.read_bytes() for f in folder.iterdir())
        for needle in needles:
            assert needle.encode() not in blob, (fmt, needle)


def test_cli_verifies_an_export_with_the_public_key(two_models, tmp_path) -> None:
    p, _, _ = two_models
    manifest = p.audit.export(tmp_path / "cli", format="csv")
    runner = CliRunner()
    ok = runner.invoke(
        app, ["audit", "verify", str(tmp_path / "cli"), "--pubkey", manifest.public_key]
    )
    assert ok.exit_code == 0 and "OK" in ok.output
    other = base64.b64encode(b"\x01" * 32).decode()
    bad = runner.invoke(app, ["audit", "verify", str(tmp_path / "cli"), "--pubkey", other])
    assert bad.exit_code == 1 and "different key" in bad.output


def test_any_byte_of_the_chain_changed_and_resigned_still_fails(two_models, tmp_path) -> None:
    p, _, _ = two_models
    folder = tmp_path / "c"
    p.audit.export(folder, format="jsonl")
    ledger = folder / "ledger.jsonl"
    original = ledger.read_bytes()
    manifest = (folder / "manifest.json").read_text()
    for position in range(0, len(original), max(1, len(original) // 60)):
        changed = bytearray(original)
        changed[position] ^= 0x04
        ledger.write_bytes(bytes(changed))
        _resign(folder, p)
        report = verify_export(folder, trust=p.keyring.public_key_bytes())
        assert not report.ok, position
        assert report.problem and ("entry" in report.problem or "line" in report.problem)
    ledger.write_bytes(original)
    (folder / "manifest.json").write_text(manifest)
    assert verify_export(folder, trust=p.keyring.public_key_bytes()).ok


def test_an_export_names_what_is_wrong_with_its_target(two_models, tmp_path) -> None:
    p, _, _ = two_models
    taken = tmp_path / "a-file"
    taken.write_text("x")
    with pytest.raises(ConfigurationError, match="is a file"):
        p.audit.export(taken)
    with pytest.raises(ModelNotFound):
        p.audit.export(tmp_path / "typo", model="credit-c")
    assert not (tmp_path / "typo").exists()
