"""Batch scoring on a real dask.distributed cluster (two worker processes): the results equal
the in-process batch function and the single-request path row for row, the job is recorded and
its rows provable, and no worker ever holds the store open."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from batch_world import (
    assert_no_worker_opened,
    assert_rows_equal_decide,
    assert_same_results,
    build,
    descendants,
)

from sdk import Personalizer
from sdk.batch import local, verify_row_proof

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

# one backend: what is checked here is the engine, and that no worker holds the SQLite file open
pytestmark = [pytest.mark.engine, pytest.mark.sqlite_only]


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
        dashboard_address=None, worker_dashboard_address=None,
    ) as cluster, distributed.Client(cluster) as c:
        yield c


def test_dask_equals_single_requests(
    client: object, store_url: str, keyring_path: Path
) -> None:
    import sdk.batch.dask as on_dask

    with Personalizer.open(store_url, keyring=keyring_path) as p:
        world = build(p)
        names = world.credit_schema.names
        ddf = dd.from_pandas(world.credit, npartitions=3)
        result = on_dask.score(ddf, p, model="credit")
        got = result.frame.compute()
        parts = [ddf.get_partition(i).compute() for i in range(ddf.npartitions)]
        want = local.score(parts, p, model="credit").frame
        assert_same_results(got, want, names)
        assert result.job.rows == len(world.credit) and result.job.partitions == 3
        assert result.job.engine == "dask"
        assert p.batch_jobs.get(result.job.job_id) == result.job
        assert result.job.consent_hash and result.job.consent_position > 0
        # the single-request path, for rows in every consent state
        assert_rows_equal_decide(p, world, got, (0, 1, 2, 3, 120, 239))
        # a row proved from the frame the caller kept, checked offline against the record
        proof = p.batch_jobs.prove(result.job.job_id, 200, leaves=got)
        assert verify_row_proof(proof, merkle_root=result.job.merkle_root)

        # the ranker: consent masks, non-profiling and preferences per subject, as recommend
        shop = dd.from_pandas(world.shop_rows, npartitions=2)
        ranked = on_dask.score(shop, p, model="shop", item_column="item_id", record_rows=True)
        got = ranked.frame.compute()
        parts = [shop.get_partition(i).compute() for i in range(shop.npartitions)]
        want = local.score(parts, p, model="shop", item_column="item_id").frame
        shop_names = p.models.get("shop").schema.names
        assert_same_results(got, want, shop_names)
        assert len(got) == len(world.shop_rows) - 1  # the item one shopper is not interested in
        for subject, frame in zip(world.shop_subjects, world.shop_frames, strict=True):
            recs = p.recommend(subject, frame.drop(columns="subject"), model="shop", k=5)
            mine = got[got["subject"] == subject].set_index("item_id")
            assert bool(mine["personalized"].iloc[0]) == recs.personalized
            for item in recs.items:
                assert mine.loc[item.item_id, "score"] == pytest.approx(
                    item.score, rel=0, abs=1e-12
                )
        proof = p.batch_jobs.prove(ranked.job.job_id, 3)  # from the recorded rows
        assert verify_row_proof(proof, merkle_root=ranked.job.merkle_root)
        workers = set(client.run(os.getpid).values())  # type: ignore[attr-defined]
        assert len(workers) == 2 and workers <= set(descendants(os.getpid()))
        assert_no_worker_opened(Path(store_url).parent)
