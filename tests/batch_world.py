"""Shared set-up of the batch tests: a store with consent in four states, preferences, a signed
German-credit classifier and a signed demo-shop ranker (small data, so engine tests stay fast)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import feature_row, german_credit

from sdk import Feature, FeatureSchema, Personalizer
from sdk.demo.shop import candidates_for, generate_shop, ranking_frame
from sdk.demo.story import ranking_schema

APPLICANTS = 240
# household and stability features are used under "personalization": their mask differs by person
SECOND_PURPOSE = {"residence_since", "people_liable_for", "housing", "employment"}


@dataclass
class World:
    credit: pd.DataFrame
    credit_schema: FeatureSchema
    shop_rows: pd.DataFrame
    shop_subjects: list[str]
    shop_frames: list[pd.DataFrame]


def credit_frame() -> tuple[pd.DataFrame, FeatureSchema]:
    frame, schema = german_credit()
    features = [
        Feature(f.name, **{**f.model_dump(exclude={"name"}), "purpose": "personalization"})
        if f.name in SECOND_PURPOSE
        else f
        for f in schema
    ]
    return frame.iloc[:APPLICANTS].reset_index(drop=True), FeatureSchema(features)


def build(p: Personalizer, *, shop: bool = True) -> World:
    """Consent in four states (both purposes / profiling only / withdrawn / never asked), a
    signed classifier and (with ``shop``) a signed ranker with preferences for three shoppers."""
    frame, schema = credit_frame()
    for i, subject in enumerate(frame["subject"]):
        if i % 4 == 0:
            p.consent.grant(subject, ["profiling", "personalization"])
        elif i % 4 == 1:
            p.consent.grant(subject, "profiling")
        elif i % 4 == 2:
            p.consent.grant(subject, ["profiling", "personalization"])
            p.consent.withdraw(subject, "profiling")
    p.models.train_classifier(
        "credit", frame, schema, target="good", outcomes=("declined", "approved"),
        target_purpose="profiling", num_boost_round=40, params={"min_data_in_leaf": 5},
    )
    p.models.sign_off("credit", 1, reviewer="reviewer.tests")
    if not shop:
        return World(frame, schema, pd.DataFrame(), [], [])
    return _with_shop(p, frame, schema)


def _with_shop(p: Personalizer, frame: pd.DataFrame, schema: FeatureSchema) -> World:
    shop = generate_shop(seed=7)
    consented, never, no_profiling, prefers = "cust-0007", "cust-0042", "cust-0023", "cust-0108"
    for customer in shop.customers["customer_id"][:150]:
        if customer != never:
            p.consent.grant(customer, "personalization")
    p.models.train_ranker("shop", ranking_frame(shop), ranking_schema(), target="relevance",
                          group="query_id", num_boost_round=15)
    p.models.sign_off("shop", 1, reviewer="reviewer.tests")
    p.preferences.set_profiling(no_profiling, False)
    p.preferences.remove_interest(prefers, "browsing")
    p.preferences.see_fewer(prefers, "price")
    who = [consented, never, no_profiling, prefers]
    frames = [candidates_for(shop, c).assign(subject=c) for c in who]
    p.preferences.not_interested(prefers, str(frames[3]["item_id"].iloc[0]))
    rows = pd.concat(frames, ignore_index=True)
    return World(frame, schema, rows, who, frames)


def open_files(pid: int) -> list[str]:
    """The paths process ``pid`` holds open (read from /proc; this machine's processes only)."""
    out = []
    base = Path(f"/proc/{pid}/fd")
    try:
        fds = os.listdir(base)
    except OSError:
        return []
    for fd in fds:
        try:
            out.append(os.readlink(base / fd))
        except OSError:
            continue  # closed meanwhile
    return out


def descendants(pid: int) -> list[int]:
    """Every process started (directly or not) by ``pid``: engine workers, the JVM, daemons."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def assert_no_worker_opened(store_dir: Path) -> None:
    """No process this test started holds a file of the store's folder open (database, WAL,
    keyring): the workers scored from the payload alone."""
    workers = descendants(os.getpid())
    assert workers, "no engine processes found"
    for pid in workers:
        held = [f for f in open_files(pid) if f.startswith(str(store_dir))]
        assert not held, (pid, held)


def assert_same_results(got: pd.DataFrame, want: pd.DataFrame, names: tuple[str, ...]) -> None:
    """Row for row (in partition, offset order), every number within 1e-12, labels equal."""
    a = got.sort_values(["batch_part", "batch_offset"]).reset_index(drop=True)
    b = want.sort_values(["batch_part", "batch_offset"]).reset_index(drop=True)
    assert len(a) == len(b) > 0
    numbers = ["score", "model_score", "base_value", *(f"phi.{n}" for n in names)]
    assert np.allclose(a[numbers].to_numpy(float), b[numbers].to_numpy(float), rtol=0, atol=1e-12)
    for column in ("pseudonym", "masked", "personalized", "non_profiling", "subject"):
        assert a[column].tolist() == b[column].tolist()
    assert [None if o != o else o for o in a["outcome"]] == [
        None if o != o else o for o in b["outcome"]
    ]


__all__ = [
    "World",
    "assert_no_worker_opened",
    "assert_same_results",
    "build",
    "credit_frame",
    "descendants",
    "open_files",
]


def assert_rows_equal_decide(
    p: Personalizer, world: World, got: pd.DataFrame, rows: tuple[int, ...]
) -> None:
    """The engine's result rows for ``rows`` of ``world.credit`` equal ``p.decide`` and its
    auditor explanation (the single-request path) within 1e-12."""
    names = world.credit_schema.names
    by_subject = got.set_index("subject")
    for i in rows:
        subject = world.credit["subject"].iloc[i]
        d = p.decide(subject, feature_row(world.credit, world.credit_schema, i), model="credit")
        mine = by_subject.loc[subject]
        assert abs(mine["score"] - d.score) <= 1e-12
        assert abs(mine["probability"] - d.probability) <= 1e-12
        assert mine["outcome"] == d.automated_outcome
        e = p.explain(d.decision_id, audience="auditor")
        assert np.allclose([mine[f"phi.{n}"] for n in names],
                           [e.contributions[n] for n in names], rtol=0, atol=1e-12)
