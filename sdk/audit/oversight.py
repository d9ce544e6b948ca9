"""Oversight of what is served: a seeded sample of recommendation lists, reviewed by a person.

Each served list is drawn for review with the rate configured for its model
(``p.oversight.configure(rates={"shop-ranker": 0.1})``); the draw is a pure function of the
decision id (SHA-256), so every process draws the same lists and a replay can check them. A
sampled list goes to the staff queue (stream ``oversight``, ``oversight.sampled``). A reviewer
marks the off-brand items (each becomes a shop-wide block, ``p.curation.block``) and the rest fine
(``oversight.reviewed``). Per model version, the share of reviewed lists with an off-brand item is
returned by :meth:`ListReviews.metrics` and emitted as the OpenTelemetry gauge
``whylens.oversight.off_brand_share`` (attributes: model name and version only).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..errors import ListReviewError
from ..ledger import Ledger, LedgerEntry
from ..ledger.catchup import CaughtUpView, Follower, read_record
from ..models.curation import Curation
from ..telemetry import off_brand_gauge
from ..types import Frozen
from ..types.human import OversightMetric, SampledList

__all__ = ["STREAM", "ListReviewed", "ListReviews", "ListSampled", "sample_draw"]

STREAM = "oversight"
_SAMPLED, _REVIEWED = "oversight.sampled", "oversight.reviewed"
_STAFF = re.compile(r"^[A-Za-z0-9_.@:-]{1,128}$")
_MAX_REASON = 2000


class ListSampled(Frozen):
    """Ledger record ``oversight.sampled``: a served list drawn for review."""

    decision_id: str
    model: str
    model_version: int
    rate: float
    items: tuple[str, ...]


class ListReviewed(Frozen):
    """Ledger record ``oversight.reviewed``: a person's verdict on every item of a list."""

    decision_id: str
    staff: str
    off_brand: tuple[str, ...]
    fine: tuple[str, ...]


def sample_draw(decision_id: str) -> float:
    """The decision's draw in [0, 1): sampled when below the model's rate."""
    digest = hashlib.sha256(b"whylens.list-review.v1\x00" + decision_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass
class _List:
    sampled: ListSampled
    at: datetime
    reviewed: ListReviewed | None = None


class _Queue(CaughtUpView):
    streams = (STREAM,)

    def __init__(self, ledger: Ledger, follower: Follower | None = None) -> None:
        self.lists: dict[str, _List] = {}
        super().__init__(ledger, follower)

    def clear(self) -> None:
        self.lists.clear()

    def fold(self, entry: LedgerEntry) -> None:
        if entry.kind == _SAMPLED:
            rec = read_record(ListSampled, entry)
            self.lists.setdefault(rec.decision_id, _List(rec, entry.ts))
        elif entry.kind == _REVIEWED:
            done = read_record(ListReviewed, entry)
            row = self.lists.get(done.decision_id)
            if row is not None and row.reviewed is None:
                row.reviewed = done


class ListReviews:
    """``p.oversight``: sampled lists for review, verdicts, and the off-brand share."""

    def __init__(
        self, ledger: Ledger, curation: Curation, *, follower: Follower | None = None
    ) -> None:
        self._ledger = ledger
        self._curation = curation
        self._queue = _Queue(ledger, follower)
        self._lock = threading.Lock()
        self._rates: dict[str, float] = {}
        self._default = 0.0

    def configure(
        self, *, rates: Mapping[str, float] | None = None, default_rate: float | None = None
    ) -> None:
        """Sampling rates per model name (0 to 1), and the rate of every other model."""
        new = dict(self._rates if rates is None else rates)
        default = self._default if default_rate is None else default_rate
        for rate in (*new.values(), default):
            if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
                raise ListReviewError("a sampling rate is a number from 0 to 1")
        with self._lock:
            self._rates, self._default = {k: float(v) for k, v in new.items()}, float(default)

    def rate(self, model: str) -> float:
        """The sampling rate of ``model``."""
        with self._lock:
            return self._rates.get(model, self._default)

    def offer(self, decision_id: str, model: str, version: int, items: list[str]) -> bool:
        """Called for every served list: queue it for review if its seeded draw says so."""
        rate = self.rate(model)
        if rate <= 0 or sample_draw(decision_id) >= rate:
            return False
        record = ListSampled(
            decision_id=decision_id,
            model=model,
            model_version=version,
            rate=rate,
            items=tuple(items),
        )
        self._ledger.append(STREAM, _SAMPLED, record.model_dump(mode="json"))
        return True

    def queue(self, *, reviewed: bool | None = False) -> list[SampledList]:
        """Sampled lists, oldest first: waiting for review (default), reviewed, or all (None)."""
        return [
            s for s in self._lists() if reviewed is None or s.reviewed == reviewed
        ]

    def get(self, decision_id: str) -> SampledList:
        """One sampled list."""
        for item in self._lists():
            if item.decision_id == decision_id:
                return item
        raise ListReviewError("that list was not sampled for review")

    def review(
        self,
        decision_id: str,
        *,
        staff: str,
        off_brand: Sequence[str] = (),
        reason: str | None = None,
    ) -> SampledList:
        """``staff`` reviews a sampled list: ``off_brand`` items are blocked for everyone (with
        ``reason``, or a default naming the list), every other item of the list is fine."""
        if not isinstance(staff, str) or not _STAFF.match(staff):
            raise ListReviewError("staff must be a staff id of 1-128 letters, digits or . _ @ : -")
        if isinstance(off_brand, str):
            raise ListReviewError("off_brand is a list of item ids, not one string")
        if reason is not None and (not isinstance(reason, str) or len(reason) > _MAX_REASON):
            raise ListReviewError(f"a reason is text of at most {_MAX_REASON} characters")
        current = self.get(decision_id)
        if current.reviewed:
            raise ListReviewError(f"list {decision_id} was reviewed already")
        marked = tuple(dict.fromkeys(off_brand))
        stray = [i for i in marked if i not in current.items]
        if stray:
            raise ListReviewError(f"{len(stray)} item(s) marked off-brand were not in this list")
        record = ListReviewed(
            decision_id=decision_id,
            staff=staff,
            off_brand=marked,
            fine=tuple(i for i in current.items if i not in marked),
        )
        self._ledger.append(STREAM, _REVIEWED, record.model_dump(mode="json"))
        for item in marked:
            self._curation.block(
                item, staff=staff, reason=reason or f"off-brand (sampled list {decision_id})"
            )
        for metric in self.metrics(current.model):
            if metric.model_version == current.model_version and metric.off_brand_share is not None:
                attributes: dict[str, str | int] = {
                    "whylens.model.name": metric.model,
                    "whylens.model.version": metric.model_version,
                }
                off_brand_gauge.set(metric.off_brand_share, attributes)
        return self.get(decision_id)

    def metrics(self, model: str | None = None) -> list[OversightMetric]:
        """Per model version: lists sampled, reviewed, with an off-brand item, and the share."""
        counts: dict[tuple[str, int], list[int]] = {}
        for item in self._lists():
            if model is not None and item.model != model:
                continue
            c = counts.setdefault((item.model, item.model_version), [0, 0, 0])
            c[0] += 1
            c[1] += int(item.reviewed)
            c[2] += int(bool(item.off_brand))
        return [
            OversightMetric(
                model=name,
                model_version=version,
                sampled=c[0],
                reviewed=c[1],
                with_off_brand=c[2],
                off_brand_share=c[2] / c[1] if c[1] else None,
            )
            for (name, version), c in sorted(counts.items())
        ]

    def _lists(self) -> list[SampledList]:
        self._queue.catch_up()
        with self._queue._lock:
            rows = list(self._queue.lists.values())
        return [
            SampledList(
                decision_id=r.sampled.decision_id,
                model=r.sampled.model,
                model_version=r.sampled.model_version,
                items=r.sampled.items,
                sampled_at=r.at,
                reviewed=r.reviewed is not None,
                reviewed_by=r.reviewed.staff if r.reviewed else None,
                off_brand=r.reviewed.off_brand if r.reviewed else (),
            )
            for r in rows
        ]
