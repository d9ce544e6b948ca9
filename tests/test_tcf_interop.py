"""Interoperability with the official IAB library ``@iabtechlabtcf/core`` (pinned in
tests/interop/tcf/package-lock.json). 1,200 seeded random models go both ways through one Node
process: our encoder -> their decoder, and their encoder -> our decoder; and for the same model
our string is never longer than theirs. 300 more models use a sparse GVL, where the library joins
restriction ranges across ids missing from it (compared with ``gvl_vendor_ids``)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from test_tcf_models import SEED, official_fields, official_input, on_gvl, random_model

from sdk.consent.tcf import TCModel, decode_tc_string, encode_tc_string
from sdk.consent.tcf.bits import BitReader

INTEROP = Path(__file__).parent / "interop" / "tcf"
N_MODELS = 1200
N_SPARSE = 300


def _node_modules() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("Node.js and npm are required for the TCF interoperability check")
    target = INTEROP / "node_modules" / "@iabtechlabtcf" / "core"
    if not target.exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=INTEROP,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return target


def _run_node(job: dict[str, object]) -> dict[str, list[object]]:
    _node_modules()
    done = subprocess.run(
        ["node", "roundtrip.js"],
        cwd=INTEROP,
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout)


def test_the_pinned_library_is_the_one_installed() -> None:
    lock = json.loads((INTEROP / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/@iabtechlabtcf/core"]["version"]
    installed = json.loads((_node_modules() / "package.json").read_text())["version"]
    assert (
        pinned
        == installed
        == json.loads((INTEROP / "package.json").read_text())["dependencies"]["@iabtechlabtcf/core"]
    )


def _vendor_consents_range_encoded(text: str) -> bool:
    reader = BitReader(text.split(".")[0], "core")
    reader.read(213 + 16, "everything before IsRangeEncoding")
    return reader.read_bool("is_range_encoding")


def _sparse_gvl_models(rng: random.Random) -> list[tuple[TCModel, frozenset[int]]]:
    out = []
    for _ in range(N_SPARSE):
        density = rng.uniform(0.4, 0.95)
        gvl = frozenset(i for i in range(1, 1201) if rng.random() < density)
        out.append((on_gvl(random_model(rng, official=True), gvl), gvl))
    return out


def _restricted(model: TCModel, gvl: frozenset[int]) -> dict[tuple[int, int], frozenset[int]]:
    return {
        (r.purpose_id, int(r.restriction_type)): r.vendors & gvl
        for r in model.publisher_restrictions
        if r.vendors & gvl
    }


def test_both_ways_through_the_official_library() -> None:
    """One test, one Node process (a module fixture would run once per xdist worker)."""
    rng = random.Random(SEED)
    ours = [random_model(rng) for _ in range(N_MODELS)]
    theirs = [random_model(rng, official=True) for _ in range(N_MODELS)]
    sparse = _sparse_gvl_models(rng)
    sparse_input = [{**official_input(m), "gvlVendorIds": sorted(gvl)} for m, gvl in sparse]
    out = _run_node(
        {
            "encode": [official_input(m) for m in theirs] + sparse_input,
            "decode": [encode_tc_string(m) for m in ours],
        }
    )
    decoded, encoded = out["decoded"], out["encoded"][:N_MODELS]
    sparse_encoded = out["encoded"][N_MODELS:]
    assert len(decoded) == len(encoded) == N_MODELS and len(sparse_encoded) == N_SPARSE

    # our encoder -> their decoder: every field they read is the field we wrote
    for model, fields in zip(ours, decoded, strict=True):
        assert isinstance(fields, dict) and "error" not in fields, fields
        assert fields == official_fields(model)

    # their encoder -> our decoder: the exact model, segment presence included
    for model, text in zip(theirs, encoded, strict=True):
        assert isinstance(text, str), text
        assert decode_tc_string(text) == model
    ranged = sum(_vendor_consents_range_encoded(text) for text in encoded)  # type: ignore[arg-type]
    assert 100 < ranged < N_MODELS - 100  # both vendor encodings came from their side

    # the same model: our string, and each of its segments, is never longer than theirs
    shorter = 0
    for model, text in zip(theirs, encoded, strict=True):
        mine = encode_tc_string(model)
        assert isinstance(text, str) and len(mine) <= len(text)
        for my_segment, their_segment in zip(mine.split("."), text.split("."), strict=True):
            assert len(my_segment) <= len(their_segment)
        shorter += len(mine) < len(text)
    assert shorter > N_MODELS // 2  # byte padding instead of 24-bit padding, exact range choice

    # a sparse GVL (as the real one is): their restriction ranges span ids missing from it, and
    # so do ours given gvl_vendor_ids; on GVL vendors everything still agrees, and ours is
    # never longer
    joined = 0
    for (model, gvl), text in zip(sparse, sparse_encoded, strict=True):
        assert isinstance(text, str), text
        back = decode_tc_string(text)
        assert back.model_copy(update={"publisher_restrictions": ()}) == model.model_copy(
            update={"publisher_restrictions": ()}
        )
        assert _restricted(back, gvl) == _restricted(model, gvl)
        mine = encode_tc_string(model, gvl_vendor_ids=gvl)
        assert len(mine) <= len(text)
        assert _restricted(decode_tc_string(mine), gvl) == _restricted(model, gvl)
        joined += back.publisher_restrictions != model.publisher_restrictions
    assert joined > N_SPARSE // 10  # the joining across gaps really happened
