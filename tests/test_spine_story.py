"""The demo story as a test: consent, personalization, withdrawal, review, override, verify."""

from __future__ import annotations

from pathlib import Path

from sdk import Personalizer
from sdk.demo.story import run_story


def test_demo_story_end_to_end(tmp_path: Path) -> None:
    result = run_story(tmp_path / "demo")

    assert result.personal.personalized
    assert {item.source for item in result.personal.items} == {"personal"}
    assert all(item.why for item in result.personal.items)

    assert not result.not_consenting.personalized
    assert {item.source for item in result.not_consenting.items} == {"popular"}
    assert "not agreed" in result.not_consenting.notice

    assert result.before_withdrawal.personalized
    assert not result.after_withdrawal.personalized
    assert "withdrew" in result.after_withdrawal.notice

    assert result.held.status == "pending_review"
    assert result.held.review_trigger and result.held.review_trigger.startswith("uncertainty")
    assert "reviewed by a person" in result.held.why
    assert result.overridden.status == "overridden"
    assert result.overridden.outcome == "approved"
    assert [a.action for a in result.overridden.history] == ["decided", "overridden"]
    assert result.overridden.history[-1].reason
    assert result.verified_records > 0

    # the database the demo names is a real, reopenable whylens database that verifies
    assert result.db_path.exists()
    with Personalizer.open(result.db_path) as p:
        assert p.audit.verify().ok
        again = p.decision(result.held.decision_id)
        assert again.outcome == "approved" and again.status == "overridden"


def test_demo_is_deterministic_in_what_it_shows(tmp_path: Path) -> None:
    first = run_story(tmp_path / "a")
    second = run_story(tmp_path / "b")
    assert [i.item_id for i in first.personal.items] == [i.item_id for i in second.personal.items]
    assert [i.why for i in first.personal.items] == [i.why for i in second.personal.items]
    assert first.held.probability == second.held.probability
