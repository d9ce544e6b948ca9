"""Batch jobs without an engine: the per-batch function equals decide row for row, the payload
travels without the store (checked in another process), snapshots are fixed at one ledger
position and sealed by their hash, and every row's inclusion in a job is provable offline."""

from __future__ import annotations

import os
import pickle
import pickletools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from batch_world import assert_same_results, build, credit_frame
from conftest import feature_row
from pydantic import ValidationError

from sdk import Personalizer
from sdk.batch import local, result_leaf, score_frame, verify_row_proof
from sdk.batch.jobs import JOB_KIND, ROW_KIND, STREAM, prepare_job
from sdk.errors import BatchError, BatchJobNotFound

# modules whose objects would mean the payload carries a store, a lock or a key
_FORBIDDEN = ("sqlite3", "_thread", "threading", "sdk.store", "sdk.crypto", "sdk.ledger",
              "sdk.personalizer", "sdk.subjects", "sdk.consent.ledger", "socket", "psycopg")


def _globals_of(blob: bytes) -> set[str]:
    """The module of every class or function a pickle would import."""
    found: set[str] = set()
    strings: list[str] = []
    for op, arg, _ in pickletools.genops(blob):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(str(arg))
        elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
            found.add(strings[-2])
        elif op.name == "GLOBAL":
            found.add(str(arg).split(" ")[0])
    return found


def test_classifier_rows_equal_decide(store_url: str, keyring_path: Path) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        world = build(p, shop=False)
        frame, names = world.credit, world.credit_schema.names
        parts = [frame.iloc[:70], frame.iloc[70:150], frame.iloc[150:]]
        out = local.score(parts, p, model="credit").frame
        assert len(out) == len(frame)
        assert out["subject"].tolist() == frame["subject"].tolist()
        phi = out[[f"phi.{n}" for n in names]].to_numpy()
        assert np.allclose(phi.sum(axis=1) + out["base_value"], out["score"], rtol=0, atol=1e-9)
        # every consent state (both / profiling only / withdrawn / never asked), several rows each
        for i in [*range(16), 101, 177, 239]:
            d = p.decide(frame["subject"].iloc[i], feature_row(frame, world.credit_schema, i),
                         model="credit")
            row = out.iloc[i]
            assert row["score"] == pytest.approx(d.score, rel=0, abs=1e-12)
            assert row["probability"] == pytest.approx(d.probability, rel=0, abs=1e-12)
            assert row["outcome"] == d.automated_outcome
            e = p.explain(d.decision_id, audience="auditor")
            want = np.array([e.contributions[n] for n in names])
            assert np.allclose([row[f"phi.{n}"] for n in names], want, rtol=0, atol=1e-12)
        masked = out["masked"].tolist()
        assert masked[0] == ""                       # both purposes granted
        assert "housing" in masked[1] and "month" not in masked[1]  # profiling only
        assert "month" in masked[2] and "month" in masked[3]          # withdrawn, never asked


HERE = Path(__file__).resolve().parent


@pytest.mark.sqlite_only  # looks for the SQLite file's name in the payload and open files
def test_payload_travels_without_the_store(
    store_url: str, keyring_path: Path, tmp_path: Path
) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        world = build(p, shop=False)
        frame = world.credit
        payload = prepare_job(p, "credit", frame["subject"].tolist())
        want = score_frame(frame, payload, part=0)
        blob = pickle.dumps(payload)
        secrets = (p.keyring.mac_key, p.keyring.pseudonym_key)
    # no store handle, lock, key or path inside; only plain values (and small)
    modules = _globals_of(blob)
    assert not [m for m in modules if m.startswith(_FORBIDDEN)], modules
    assert all(s not in blob for s in secrets)
    assert str(Path(store_url).name).encode() not in blob
    assert str(keyring_path.name).encode() not in blob
    assert len(blob) < 400_000, len(blob)
    # a fresh process with no path to the store scores the same rows from the payload alone
    (tmp_path / "payload.pkl").write_bytes(blob)
    frame.to_pickle(tmp_path / "frame.pkl")
    code = (
        "import pickle, sys, pandas as pd\n"
        "from sdk.batch import score_frame\n"
        "payload = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "out = score_frame(pd.read_pickle(sys.argv[2]), payload, part=0)\n"
        "import os, batch_world\n"
        "files = batch_world.open_files(os.getpid())\n"
        "assert not [f for f in files if f.endswith(('.db', '-wal', '.json'))], files\n"
        "out.to_pickle(sys.argv[3])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHYLENS")}
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "payload.pkl"), str(tmp_path / "frame.pkl"),
         str(tmp_path / "out.pkl")],
        check=True, cwd=tmp_path,
        env=env | {"PYTHONPATH": os.pathsep.join((str(HERE), str(HERE.parent)))},
        timeout=300,
    )
    got = pd.read_pickle(tmp_path / "out.pkl")
    assert_same_results(got, want, world.credit_schema.names)
    assert got["leaf_hash"].tolist() == want["leaf_hash"].tolist()


def test_snapshots_are_fixed_at_one_position_and_sealed(
    store_url: str, keyring_path: Path
) -> None:
    frame, _ = credit_frame()
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        world = build(p, shop=False)
        subject = frame["subject"].iloc[0]
        payload = prepare_job(p, "credit", frame["subject"].tolist())
        position = p.ledger.size
        assert payload.consent.position == payload.preferences.position == position
        pseudo = p.keys.pseudonym(subject)
        assert payload.consent.state_of(pseudo).allows("profiling")
        p.consent.withdraw(subject, "profiling")
        # the snapshot does not move; a new job's does
        assert payload.consent.state_of(pseudo).allows("profiling")
        later = prepare_job(p, "credit", frame["subject"].tolist())
        assert later.consent.position > position
        assert not later.consent.state_of(pseudo).allows("profiling")
        assert later.consent.snapshot_hash != payload.consent.snapshot_hash
        # immutable, and a copy with other content no longer matches its hash
        with pytest.raises(ValidationError):
            payload.consent.position = 1  # type: ignore[misc]
        forged = payload.consent.model_copy(update={"subjects": ()})
        with pytest.raises(BatchError):
            forged.verify()
        tampered = payload.model_copy(
            update={"consent": forged, "job_id": "job_" + "ab" * 16}
        )
        with pytest.raises(BatchError):
            score_frame(world.credit, tampered, part=0)
        # a subject the snapshot does not know is refused, not scored as "never asked"
        stranger = world.credit.iloc[:3].assign(subject="applicant-9999")
        with pytest.raises(BatchError):
            score_frame(stranger, payload, part=0)


def test_job_record_and_row_proofs(store_url: str, keyring_path: Path, tmp_path: Path) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        world = build(p, shop=False)
        frame, names = world.credit, world.credit_schema.names
        before = p.ledger.size
        result = local.score([frame.iloc[:100], frame.iloc[100:]], p, model="credit",
                             record_rows=True)
        job, out = result.job, result.frame
        # one job record and one row record per row, in ceil(rows / chunk) + 1 transactions
        assert p.ledger.size == before + len(frame) + 1
        assert job.rows == len(frame) and job.partitions == 2 and job.rows_recorded
        assert job.model.content_hash == p.models.get("credit").content_hash
        assert job.consent_position == before
        assert p.batch_jobs.get(job.job_id) == job
        entries = list(p.ledger.entries(stream=STREAM))
        assert [e.kind for e in entries].count(ROW_KIND) == len(frame)
        assert entries[-1].kind == JOB_KIND
        # the job record names no subject; row records name pseudonyms only
        text = str([e.data for e in entries])
        assert all(s not in text for s in frame["subject"])
        # the leaf in the frame is the RFC 8785 leaf of the row's values
        for i in (0, 57, 150, 239):
            row = out.iloc[i].to_dict()
            key = p.batch_jobs.row_key(job.job_id, row["pseudonym"], version=row["key_version"])
            _, leaf = result_leaf(job.job_id, row, names, key=key)
            assert leaf.hex() == out["leaf_hash"].iloc[i]
        row150 = out.iloc[150].to_dict()
        key150 = p.batch_jobs.row_key(
            job.job_id, row150["pseudonym"], version=row150["key_version"]
        )
        job_id, root = job.job_id, job.merkle_root
        out.to_pickle(tmp_path / "out.pkl")
        # a job that did not record rows is proved from the result frame the caller kept
        second = local.score(frame, p, model="credit")
        proof = p.batch_jobs.prove(second.job.job_id, 5, leaves=second.frame)
        assert verify_row_proof(proof, merkle_root=second.job.merkle_root)
        with pytest.raises(BatchError):
            p.batch_jobs.prove(second.job.job_id, 5)
        with pytest.raises(BatchError):
            p.batch_jobs.prove(second.job.job_id, 5, leaves=out)  # another job's leaves
        with pytest.raises(BatchJobNotFound):
            p.batch_jobs.get("job_" + "0" * 32)
    # another process proves a row of the first job from the ledger, and checks it offline
    code = (
        "import sys, pandas as pd\n"
        "from sdk import Personalizer\n"
        "from sdk.batch import result_leaf, verify_row_proof\n"
        "with Personalizer.open(sys.argv[1], keyring=sys.argv[2]) as p:\n"
        "    proof = p.batch_jobs.prove(sys.argv[3], 150)\n"
        "    names = p.models.get('credit').schema.names\n"
        "print(proof.model_dump_json())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, store_url, str(keyring_path), job_id],
        check=True, capture_output=True, text=True, timeout=300,
    )
    from sdk.batch import RowProof

    proof = RowProof.model_validate_json(done.stdout.strip().splitlines()[-1])
    rows = pd.read_pickle(tmp_path / "out.pkl")
    _, leaf = result_leaf(job_id, rows.iloc[150].to_dict(), names, key=key150)
    assert verify_row_proof(proof, merkle_root=root, leaf_hash=leaf.hex())
    # a changed result no longer matches the proved leaf; a changed root fails the proof
    changed = rows.iloc[150].to_dict() | {"score": float(rows["score"].iloc[150]) + 1e-9}
    _, forged = result_leaf(job_id, changed, names, key=key150)
    assert not verify_row_proof(proof, merkle_root=root, leaf_hash=forged.hex())
    assert not verify_row_proof(proof, merkle_root="0" * 64)
    assert not verify_row_proof(proof.model_copy(update={"index": 151}), merkle_root=root)


def test_engines_are_optional_and_import_sdk_stays_light() -> None:
    code = (
        "import sys\n"
        "import sdk, sdk.batch\n"
        "heavy = [m for m in ('pandas', 'lightgbm', 'dask', 'distributed', 'pyspark')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "for name in ('dask', 'distributed', 'pyspark'):\n"
        "    sys.modules[name] = None\n"
        "import sdk.batch.dask, sdk.batch.spark\n"
        "from sdk.errors import ConfigurationError\n"
        "for engine, hint in ((sdk.batch.dask, \"pip install 'whylens[dask]'\"),"
        " (sdk.batch.spark, \"pip install 'whylens[spark]'\")):\n"
        "    try:\n"
        "        engine.score(None, None, model='m')\n"
        "    except ConfigurationError as exc:\n"
        "        assert hint in str(exc), exc\n"
        "    else:\n"
        "        raise AssertionError('no error')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_serving_and_batch_share_one_masking_path() -> None:
    import inspect

    import sdk.batch.scoring
    import sdk.models.shadow
    import sdk.serving.decide
    import sdk.serving.recommend

    for module in (sdk.serving.recommend, sdk.serving.decide, sdk.models.shadow,
                   sdk.batch.scoring):
        source = inspect.getsource(module)
        assert "masking_plan(" in source, module.__name__
        # no second copy of the rules: nobody else asks a consent state what it allows
        assert ".allows(" not in source, module.__name__
