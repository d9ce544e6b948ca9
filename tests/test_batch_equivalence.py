"""Batch scoring over an iterator of DataFrames equals the single-request path, row for row, with
consent masks, non-profiling choices and concept preferences applied per subject."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdk import Personalizer
from sdk.batch import local
from sdk.demo.shop import candidates_for, generate_shop, ranking_frame
from sdk.demo.story import ranking_schema


def test_batch_equals_recommend_row_for_row(tmp_path: Path) -> None:
    shop = generate_shop(seed=7)
    consented, never, no_profiling, prefers = "cust-0007", "cust-0042", "cust-0023", "cust-0108"
    with Personalizer.open(tmp_path / "b.db") as p:
        for customer in shop.customers["customer_id"][:150]:
            if customer != never:
                p.consent.grant(customer, "personalization")
        p.models.train_ranker("r", ranking_frame(shop), ranking_schema(), target="relevance",
                              group="query_id", num_boost_round=15)
        p.models.sign_off("r", 1, reviewer="reviewer.tests")
        p.preferences.set_profiling(no_profiling, False)
        p.preferences.remove_interest(prefers, "browsing")
        p.preferences.see_fewer(prefers, "price")
        who = [consented, never, no_profiling, prefers]
        frames = [candidates_for(shop, c).assign(subject=c) for c in who]
        # batches cut across subjects: two frames of uneven size
        everything = pd.concat(frames, ignore_index=True)
        batches = [everything.iloc[:47], everything.iloc[47:]]
        out = local.score(batches, p, model="r").frame
        assert len(out) == len(everything)
        names = p.models.get("r").schema.names
        phi = out[[f"phi.{n}" for n in names]].to_numpy()
        assert np.allclose(phi.sum(axis=1) + out["base_value"], out["score"], rtol=0, atol=1e-9)
        for subject, frame in zip(who, frames, strict=True):
            recs = p.recommend(subject, frame.drop(columns="subject"), model="r", k=len(frame))
            mine = out[out["subject"] == subject].set_index("item_id")
            for item in recs.items:
                row = mine.loc[item.item_id]
                assert row["score"] == pytest.approx(item.score, rel=0, abs=1e-12)
                e = p.explain(recs.decision_id, audience="auditor", item_id=item.item_id)
                got = np.array([row[f"phi.{n}"] for n in names])
                want = np.array([e.contributions[n] for n in names])
                assert np.allclose(got, want, rtol=0, atol=1e-12)
                assert bool(row["personalized"]) == recs.personalized
        by = out.groupby("subject")
        assert by.get_group(never)["masked"].iloc[0] != ""
        assert by.get_group(no_profiling)["masked"].iloc[0] != ""
        assert by.get_group(consented)["masked"].iloc[0] == ""
        browsing = [f"phi.{n}" for n in names if p.models.get("r").schema[n].concept == "browsing"]
        assert (by.get_group(prefers)[browsing].to_numpy() == 0.0).all()
