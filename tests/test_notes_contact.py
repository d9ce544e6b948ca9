"""Customer notes and human-contact cases on the real store: consent, the staff inbox, triage,
service levels, every step on the ledger with the person's words only encrypted, and erasure."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import all_bytes, feature_row

from sdk import Personalizer
from sdk.audit.contact import ServiceLevel, TriagePolicy
from sdk.errors import ContactCaseError, NoteConsentMissing, NoteStateError, SubjectErased

WHO = "cust-notes-1"


def test_a_note_needs_its_own_purpose_and_nothing_is_stored_without_it(p: Personalizer) -> None:
    assert p.consent.purposes.get("customer_notes").legal_basis == "consent"
    p.consent.grant(WHO, "personalization")  # personal use is not enough: notes have their own
    size = p.ledger.size
    with pytest.raises(NoteConsentMissing, match="customer_notes"):
        p.notes.add(WHO, "a gift for my sister")
    assert p.ledger.size == size and p.notes.inbox() == []
    p.consent.grant(WHO, "customer_notes")
    assert p.notes.add(WHO, "a gift for my sister").status == "open"
    p.consent.withdraw(WHO, "customer_notes")
    with pytest.raises(NoteConsentMissing):
        p.notes.add(WHO, "another note")


def test_inbox_resolve_and_the_ledger_trail(p: Personalizer, store_url: str) -> None:
    p.consent.grant(WHO, "customer_notes")
    first = p.notes.add(WHO, "Loves hand-dyed wool, allergic to lavender", topic="gift ideas")
    second = p.notes.add(WHO, "Please no plastic packaging")
    assert [n.note_id for n in p.notes.inbox()] == [first.note_id, second.note_id]
    assert p.notes.inbox()[0].text == "Loves hand-dyed wool, allergic to lavender"
    assert p.notes.inbox()[0].topic == "gift ideas"
    done = p.notes.resolve(first.note_id, staff="anna.k", action="picked_items",
                           reply="We picked two wool scarves for you")
    assert (done.status, done.resolved_by, done.action) == ("resolved", "anna.k", "picked_items")
    assert done.reply == "We picked two wool scarves for you" and done.resolved_at is not None
    assert [n.note_id for n in p.notes.inbox()] == [second.note_id]
    assert [n.note_id for n in p.notes.inbox("resolved")] == [first.note_id]
    assert len(p.notes.inbox(None)) == 2
    with pytest.raises(NoteStateError, match="resolved already"):
        p.notes.resolve(first.note_id, staff="anna.k", action="noted")
    with pytest.raises(NoteStateError, match="action must be one of"):
        p.notes.resolve(second.note_id, staff="anna.k", action="deleted")  # type: ignore[arg-type]
    with pytest.raises(NoteStateError, match="no note"):
        p.notes.resolve("note_" + "0" * 24, staff="anna.k", action="noted")
    # who, when and what was done are on the ledger in clear; the words only encrypted
    entries = list(p.ledger.entries(stream="notes"))
    assert [e.kind for e in entries] == ["note.added", "note.added", "note.resolved"]
    assert entries[2].data["staff"] == "anna.k" and entries[2].data["action"] == "picked_items"
    assert entries[0].subject == p.keys.pseudonym(WHO)
    # on SQLite also the file's bytes (WAL included); on PostgreSQL every stored ledger body
    raw = all_bytes(Path(store_url)) if not store_url.startswith("postgresql") else b""
    bodies = b"".join(e.body for e in p.ledger.raw_entries())
    for secret in (b"lavender", b"wool scarves", b"gift ideas", WHO.encode()):
        assert secret not in raw and secret not in bodies
        assert all(secret.decode() not in str(e.data) for e in entries)
    assert p.audit.verify().ok


def test_erasure_makes_notes_unreadable(p: Personalizer) -> None:
    p.consent.grant(WHO, "customer_notes")
    note = p.notes.add(WHO, "call me about the blue vase")
    p.notes.resolve(note.note_id, staff="anna.k", action="answered", reply="Vase reserved")
    p.subjects.erase(WHO)
    gone = p.notes.get(note.note_id)
    assert gone.text is None and gone.reply is None and gone.topic is None
    assert gone.status == "resolved" and gone.resolved_by == "anna.k"  # the trail stays
    # a new note from the erased id says so (not "has not agreed", which would invite a grant)
    size = p.ledger.size
    with pytest.raises(SubjectErased):
        p.notes.add(WHO, "one more thing")
    assert p.ledger.size == size


def test_bad_input_is_refused_with_nothing_stored(p: Personalizer) -> None:
    p.consent.grant(WHO, "customer_notes")
    size = p.ledger.size
    for text in ("", "   ", "x" * 4001, 7):
        with pytest.raises(NoteStateError):
            p.notes.add(WHO, text)  # type: ignore[arg-type]
    with pytest.raises(NoteStateError, match="staff id"):
        note_id = "note_" + "1" * 24
        p.notes.resolve(note_id, staff="anna k!", action="noted")
    with pytest.raises(NoteStateError, match="status"):
        p.notes.inbox("closed")  # type: ignore[arg-type]
    assert p.ledger.size == size


def test_a_note_added_in_another_process_is_in_this_inbox(
    p: Personalizer, store_url: str, keyring_path: Path
) -> None:
    p.consent.grant(WHO, "customer_notes")
    assert p.notes.inbox() == []  # the view has caught up once, before the other process writes
    script = (
        "import sys; from sdk import Personalizer\n"
        "with Personalizer.open(sys.argv[1], keyring=sys.argv[3]) as q:\n"
        "    q.notes.add(sys.argv[2], 'written by another process', topic='delivery')\n"
        "    q.contact.request(sys.argv[2], message='please call me back')\n"
    )
    subprocess.run([sys.executable, "-c", script, store_url, WHO, str(keyring_path)],
                   check=True, timeout=120)
    [note] = p.notes.inbox()
    assert note.text == "written by another process" and note.topic == "delivery"
    [case] = p.contact.cases(status="open")
    assert case.message == "please call me back"
    p.notes.resolve(note.note_id, staff="owner", action="answered")
    assert p.notes.inbox() == []


# -- contact cases ------------------------------------------------------------------------------


def test_routine_and_escalated_cases_say_why(p: Personalizer) -> None:
    p.contact.configure(service_level=ServiceLevel(routine=timedelta(hours=48),
                                                   person=timedelta(hours=4)))
    routine = p.contact.request("cust-a", message="When does my parcel arrive?")
    assert routine.route == "routine" and routine.escalations == ()
    assert routine.status == "open" and routine.assignee is None
    assert timedelta(hours=47) < routine.due_at - routine.created_at <= timedelta(hours=48)

    topic = p.contact.request("cust-b", message="The seller was rude", topic="complaint")
    assert topic.route == "person" and [e.reason for e in topic.escalations] == ["topic"]
    assert timedelta(hours=3) < topic.due_at - topic.created_at <= timedelta(hours=4)
    assert "complaint" in topic.escalations[0].detail

    sensitive = p.contact.request("cust-c", message="My mother died, can I return her order?")
    assert [e.reason for e in sensitive.escalations] == ["sensitive_concept"]
    assert "bereavement" in sensitive.escalations[0].detail
    # word beginnings, not any substring: "will" and "skills" mention no illness
    assert p.contact.request("cust-d", message="Will it fit? Skills class?").route == "routine"

    again = p.contact.request("cust-a", message="Still no parcel")
    assert [e.reason for e in again.escalations] == ["repeated_requests"]
    assert "request 2" in again.escalations[0].detail

    p.contact.configure(triage=TriagePolicy(person_topics=(), sensitive_concepts={},
                                            repeat_threshold=5))
    assert p.contact.request("cust-b", message="rude", topic="complaint").route == "routine"
    # the ledger holds reason codes and the due time in clear, the words only encrypted
    entries = list(p.ledger.entries(stream="contact"))
    assert {tuple(e.data["reasons"]) for e in entries} >= {("topic",), ("sensitive_concept",)}
    assert all("died" not in str(e.data) and "complaint" not in str(e.data) for e in entries)


def test_a_contested_decision_goes_to_a_person(credit) -> None:  # type: ignore[no-untyped-def]
    p, frame, schema = credit


    subject = frame["subject"].iloc[0]
    decision = p.decide(subject, feature_row(frame, schema, 0), model="credit")
    plain = p.contact.request(subject, decision_id=decision.decision_id, message="Why?")
    assert plain.decision_id == decision.decision_id
    assert "contested_decision" not in [e.reason for e in plain.escalations]
    p.contest(decision.decision_id, message="I disagree")
    case = p.contact.request(subject, decision_id=decision.decision_id, message="Please look")
    assert case.route == "person"
    assert "contested_decision" in [e.reason for e in case.escalations]
    with pytest.raises(ContactCaseError, match="no decision of this person"):
        p.contact.request(frame["subject"].iloc[1], decision_id=decision.decision_id, message="x")
    with pytest.raises(ContactCaseError, match="no decision"):
        p.contact.request(subject, decision_id="dec_" + "0" * 32, message="x")


def test_assign_close_and_overdue(p: Personalizer) -> None:
    p.contact.configure(service_level=ServiceLevel(routine=timedelta(hours=1),
                                                   person=timedelta(minutes=10)))
    a = p.contact.request("cust-x", message="question one")
    b = p.contact.request("cust-y", message="I feel ill after using the soap")
    assert b.route == "person"
    in_30_min = datetime.now(UTC) + timedelta(minutes=30)
    assert [c.case_id for c in p.contact.overdue(now=in_30_min)] == [b.case_id]
    later = datetime.now(UTC) + timedelta(hours=2)
    assert [c.case_id for c in p.contact.overdue(now=later)] == [b.case_id, a.case_id]
    taken = p.contact.assign(b.case_id, staff="owner", assignee="anna.k")
    assert taken.status == "assigned" and taken.assignee == "anna.k"
    closed = p.contact.close(b.case_id, staff="anna.k", note="Called her, refunded")
    assert closed.status == "closed" and closed.closed_by == "anna.k"
    assert [c.case_id for c in p.contact.overdue(now=later)] == [a.case_id]
    with pytest.raises(ContactCaseError, match="closed"):
        p.contact.close(b.case_id, staff="anna.k")
    kinds = [e.kind for e in p.ledger.entries(stream="contact")]
    assert kinds == ["contact.requested"] * 2 + ["contact.assigned", "contact.closed"]
    assert all("refunded" not in str(e.data) for e in p.ledger.entries(stream="contact"))
    p.subjects.erase("cust-y")
    erased = p.contact.get(b.case_id)
    assert erased.message is None and [e.reason for e in erased.escalations] == [
        "sensitive_concept"
    ]
    for bad in ("", "x" * 4001):
        with pytest.raises(ContactCaseError):
            p.contact.request("cust-x", message=bad)


def test_a_sealed_note_cannot_be_moved_to_another_note_or_person(p: Personalizer) -> None:
    """An attacker who can write the ledger rows moves ciphertexts around: it never reads."""
    from sdk.errors import DecryptionError
    from sdk.keys.sealed import open_sealed

    for who in (WHO, "cust-notes-2"):
        p.consent.grant(who, "customer_notes")
    a = p.notes.add(WHO, "first note")
    b = p.notes.add(WHO, "second note")
    c = p.notes.add("cust-notes-2", "someone else's note")
    sealed = {e.data["note_id"]: e.data["sealed"] for e in p.ledger.entries(stream="notes")}
    pseudo, other = p.keys.pseudonym(WHO), p.keys.pseudonym("cust-notes-2")
    assert open_sealed(p.keys, pseudo, f"note/{a.note_id}/text", sealed[a.note_id]) == {
        "text": "first note", "topic": None}
    with pytest.raises(DecryptionError):  # another note's field
        open_sealed(p.keys, pseudo, f"note/{b.note_id}/text", sealed[a.note_id])
    with pytest.raises(DecryptionError):  # another person's key
        open_sealed(p.keys, other, f"note/{c.note_id}/text", sealed[a.note_id])
    with pytest.raises(DecryptionError):  # the reply's field
        open_sealed(p.keys, pseudo, f"note/{a.note_id}/reply", sealed[a.note_id])
