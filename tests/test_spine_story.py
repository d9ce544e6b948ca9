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

    # the human touch: a note, two staff picks with their why, an off-brand item blocked
    touch = result.touch
    assert touch is not None and touch.note.text and touch.note.topic == "gift"
    staff = [i for i in touch.with_picks.items if i.source == "staff"]
    assert [i.rank for i in staff] == [1, 4]
    assert {i.item_id for i in staff} == set(touch.picked)
    assert all(i.why == "Picked for you by Lena at the shop, after your note." for i in staff)
    assert all(i.disclosure and i.disclosure.staff_pick for i in staff)
    assert touch.with_picks.disclosure and touch.with_picks.disclosure.staff_pick
    assert touch.sampled and touch.blocked not in {i.item_id for i in touch.after_block.items}
    assert touch.case.route == "person"
    assert [e.reason for e in touch.case.escalations] == ["sensitive_concept"]

    # the database the demo names is a real, reopenable whylens database that verifies
    assert result.db_path.exists()
    with Personalizer.open(result.db_path) as p:
        assert p.audit.verify().ok
        again = p.decision(result.held.decision_id)
        assert again.outcome == "approved" and again.status == "overridden"
        assert again.disclosure and not again.disclosure.automated
        assert result.touch is not None and result.touch.blocked in p.curation.blocked()
        [resolved] = p.notes.inbox("resolved")
        assert resolved.action == "picked_items" and resolved.resolved_by == "owner.lena"


def test_demo_is_deterministic_in_what_it_shows(tmp_path: Path) -> None:
    first = run_story(tmp_path / "a")
    second = run_story(tmp_path / "b")
    assert [i.item_id for i in first.personal.items] == [i.item_id for i in second.personal.items]
    assert [i.why for i in first.personal.items] == [i.why for i in second.personal.items]
    assert first.held.probability == second.held.probability
    assert first.touch and second.touch
    assert [(i.item_id, i.source, i.why) for i in first.touch.with_picks.items] == [
        (i.item_id, i.source, i.why) for i in second.touch.with_picks.items
    ]
