"""Personal data at rest: the ``Personal`` pydantic marker, behavioural events, subject export."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import pytest
from conftest import all_bytes, feature_row
from pydantic import BaseModel, ConfigDict
from test_erasure import _trained

from sdk import Personalizer
from sdk.crypto import SubjectCipher
from sdk.errors import (
    ConsentError,
    DecryptionError,
    SchemaError,
    SubjectError,
    UnknownPurpose,
    UnknownSubject,
)
from sdk.subjects import Personal, PersonalStr, seal, unseal
from sdk.subjects.personal import personal_fields

CANARY_EMAIL = "canary-personal-31f0@example.org"
CANARY_QUERY = "canary-query-0d9c"


class Address(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")
    city: str
    street: Annotated[str, Personal(category="contact", purpose="service")]


class Customer(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")
    customer_id: str
    email: Annotated[str, Personal(category="contact", purpose="service")]
    nickname: Annotated[str, Personal(category="identity", purpose="service", mask=False)]
    address: Address


def _customer() -> Customer:
    return Customer(
        customer_id="c-1",
        email=CANARY_EMAIL,
        nickname="Pip",
        address=Address(city="Graz", street="Canarygasse 7"),
    )


# -- the Personal marker ------------------------------------------------------------------------


def test_personal_fields_are_masked_in_repr_str_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    customer = _customer()
    caplog.set_level(logging.INFO)
    logging.getLogger("app").info("saved %s", customer)
    logging.getLogger("app").info("saved %r", customer)
    for text in (repr(customer), str(customer), caplog.text):
        assert CANARY_EMAIL not in text and "Canarygasse" not in text
        assert "email='***'" in text and "customer_id='c-1'" in text and "city='Graz'" in text
    assert "nickname='Pip'" in repr(customer)  # mask=False
    # the value itself is the real string, and dumps are plain JSON for the application
    assert customer.email == CANARY_EMAIL and isinstance(customer.email, PersonalStr)
    assert f"{customer.email}" == CANARY_EMAIL
    assert customer.model_dump()["email"] == CANARY_EMAIL
    assert json.loads(customer.model_dump_json())["address"]["street"] == "Canarygasse 7"
    assert Customer.model_validate(customer.model_dump()) == customer


def test_json_schema_carries_x_personal_data() -> None:
    schema = Customer.model_json_schema()
    assert schema["properties"]["email"]["x-personal-data"] == {
        "category": "contact",
        "purpose": "service",
    }
    assert "x-personal-data" not in schema["properties"]["customer_id"]
    street = schema["$defs"]["Address"]["properties"]["street"]
    assert street["x-personal-data"]["category"] == "contact"
    assert set(personal_fields(Customer)) == {"email", "nickname"}
    with pytest.raises(SchemaError):
        Personal(category="", purpose="service")


def test_seal_encrypts_personal_fields_bound_to_subject_and_path() -> None:
    cipher = SubjectCipher({1: bytes(range(32))}, current=1)
    subject = "a" * 32
    customer = _customer()
    stored = seal(customer, cipher, subject=subject)
    text = json.dumps(stored)
    assert CANARY_EMAIL not in text and "Canarygasse" not in text and "Pip" not in text
    assert stored["customer_id"] == "c-1" and stored["address"]["city"] == "Graz"
    assert stored["email"].startswith("wl1:") and stored["address"]["street"].startswith("wl1:")
    assert unseal(Customer, stored, cipher, subject=subject) == customer
    with pytest.raises(DecryptionError):
        unseal(Customer, stored, cipher, subject="b" * 32)
    swapped = {**stored, "email": stored["nickname"], "nickname": stored["email"]}
    with pytest.raises(DecryptionError):
        unseal(Customer, swapped, cipher, subject=subject)
    with pytest.raises(SubjectError) as info:
        unseal(Customer, {**stored, "customer_id": 5}, cipher, subject=subject)
    assert CANARY_EMAIL not in str(info.value)


# -- events and export through the Personalizer --------------------------------------------------


def test_events_are_encrypted_purpose_bound_and_consented(db_path: Path) -> None:
    with Personalizer.open(db_path) as p:
        p.consent.grant("ann", "personalization")
        first = p.events.record(
            "ann", "search", purpose="personalization", data={"q": CANARY_QUERY}
        )
        p.events.record("ann", "product.viewed", purpose="personalization", data={"item": "i-9"})
        assert [e.kind for e in p.events.list("ann")] == ["search", "product.viewed"]
        assert p.events.list("ann", kind="search")[0] == first
        assert first.data == {"q": CANARY_QUERY} and first.event_id.startswith("evt_")
        with pytest.raises(ConsentError, match="not consented to purpose 'analytics'"):
            p.events.record("ann", "search", purpose="analytics", data={"q": CANARY_QUERY})
        with pytest.raises(UnknownPurpose):
            p.events.record("ann", "search", purpose="astrology")
        with pytest.raises(SubjectError) as info:
            p.events.record("ann", CANARY_QUERY.upper(), purpose="personalization")
        assert CANARY_QUERY.upper() not in str(info.value)
        with pytest.raises(SubjectError):
            p.events.record("ann", "search", purpose="personalization", data={"x": {1, 2}})
        with pytest.raises(SubjectError, match="timezone"):
            p.events.record(
                "ann",
                "search",
                purpose="personalization",
                at=datetime(2026, 1, 1),
            )
        assert len(p.events.list("ann")) == 2  # refused events stored nothing
        # the clear columns are bound: relabelling an event's purpose breaks its decryption
        p._db.checkpoint()
        assert CANARY_QUERY.encode() not in all_bytes(db_path)
        with p._db.transaction() as tx:
            tx.execute("UPDATE personal_events SET purpose = 'analytics' WHERE kind = 'search'")
        with pytest.raises(DecryptionError, match="event evt_"):
            p.events.list("ann")
        p.consent.withdraw("ann", "personalization")
        with pytest.raises(ConsentError):
            p.events.record("ann", "search", purpose="personalization")


def test_events_follow_data_key_rotation(db_path: Path) -> None:
    with Personalizer.open(db_path) as p:
        p.consent.grant("bo", "personalization")
        old = datetime.now(UTC) - timedelta(days=3)
        p.events.record("bo", "search", purpose="personalization", data={"q": "tent"}, at=old)
        pseudo = p.keys.pseudonym("bo")
        p.keys.rotate_data_key(pseudo)
        p.events.record("bo", "search", purpose="personalization", data={"q": "stove"})
        cipher = p.keys.cipher(pseudo, create=False)
        rows = p._db.query("SELECT ciphertext FROM personal_events WHERE subject = ?", (pseudo,))
        assert {cipher.key_version_of(bytes(r[0])) for r in rows} == {2}  # re-encrypted on write
        assert [e.data["q"] for e in p.events.list("bo")] == ["tent", "stove"]


def test_export_holds_consents_notices_profile_events_decisions_and_explanations(
    db_path: Path, tmp_path: Path
) -> None:
    with Personalizer.open(db_path) as p:
        frame, schema = _trained(p, n=300)  # type: ignore[misc]
        subject = frame["subject"].iloc[5]
        p.consent.grant(subject, "marketing", notice="privacy-2026-11", source="banner")
        p.profiles.put(subject, _customer())
        p.events.record(subject, "search", purpose="personalization", data={"q": CANARY_QUERY})
        decision = p.decide(subject, feature_row(frame, schema, 5), model="credit")
        export = p.subjects.export(subject)
        assert export.subject == p.keys.pseudonym(subject)
        notices = [e.notice.notice_id for e in export.consent if e.notice is not None]
        assert "privacy-2026-11" in notices
        assert {e.purpose for e in export.consent} >= {"profiling", "marketing"}
        assert export.profile["email"] == CANARY_EMAIL
        assert p.profiles.get(subject, model=Customer) == _customer()
        assert [e.data for e in export.events] == [{"q": CANARY_QUERY}]
        assert [d.decision_id for d in export.decisions] == [decision.decision_id]
        (explanation,) = export.explanations
        assert explanation.decision_id == decision.decision_id
        assert explanation.audience == "end_user" and explanation.text
        document = json.loads(export.model_dump_json())
        assert set(document) >= {"consent", "profile", "events", "decisions", "explanations"}
        assert document["profile"]["address"]["street"] == "Canarygasse 7"
        # the audit export (for auditors) carries none of it
        p.audit.export(tmp_path / "audit")
        audit_bytes = b"".join(f.read_bytes() for f in (tmp_path / "audit").iterdir())
        for canary in (CANARY_EMAIL, CANARY_QUERY, "Canarygasse", subject):
            assert canary.encode() not in audit_bytes
        with pytest.raises(UnknownSubject):
            p.subjects.export("nobody-at-all")
