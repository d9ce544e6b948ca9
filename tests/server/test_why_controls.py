"""The why page's controls act at once, through the real server, and say what they did:
not interested, see fewer, profiling off and on, ask for a person; in English and German."""

from __future__ import annotations

import re

import httpx

from sdk import Personalizer

from .support import CREDIT, RANKER, Server, Store


def _form(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the first form posting to ``.../action``."""
    form = page.split(f'/{action}">', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', form))


def _recommend(server: Server, store: Store, who: str) -> dict:  # type: ignore[type-arg]
    r = server.client(token=store.tokens["service"]).post(
        "/v1/recommend", json={"subject": who, "model": RANKER, "k": 5,
                               "candidates": store.candidates(who, 30)})
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def test_controls_act_at_once_and_say_what_they_did(server: Server, store: Store) -> None:
    who = store.consenting[40]
    first = _recommend(server, store, who)
    link = server.client(token=store.tokens["service"]).post(
        "/v1/links", json={"subject": who}).json()["path"]
    page = httpx.get(server.url + link).text

    # not interested: the item is gone from the very next list
    dropped = first["items"][0]["item_id"]
    fields = _form(page, "not-interested")
    assert fields["item_id"] == dropped
    r = httpx.post(f"{server.url}{link}/not-interested", data=fields, follow_redirects=True)
    assert r.status_code == 200 and f"Done: {dropped} will not be recommended" in r.text
    assert dropped not in {i["item_id"] for i in _recommend(server, store, who)["items"]}

    # see fewer: recorded as the person's preference for that concept
    fields = _form(r.text, "fewer")
    r = httpx.post(f"{server.url}{link}/fewer", data=fields, follow_redirects=True)
    assert f"fewer recommendations because of {fields['concept']}" in r.text
    with Personalizer.open(store.db, keyring=store.keyring) as p:
        assert p.preferences.state(who).concept_weights[fields["concept"]] == 0.5

    # profiling off: the next list uses no personal data; and back on
    fields = _form(r.text, "profiling")
    assert fields["enabled"] == "off"
    r = httpx.post(f"{server.url}{link}/profiling", data=fields, follow_redirects=True)
    assert "profiling is off" in r.text and "Turn profiling back on" in r.text
    off = _recommend(server, store, who)
    assert off["personalized"] is False
    r = httpx.post(f"{server.url}{link}/profiling", data=_form(r.text, "profiling"),
                   follow_redirects=True)
    assert "profiling is back on" in r.text
    assert _recommend(server, store, who)["personalized"] is True

    # a crafted message is not shown: only what the server itself signed
    forged = httpx.get(f"{server.url}{link}?done=withdraw&what=Your+account+is+closed")
    assert "Your account is closed" not in forged.text


def test_ask_for_a_person_in_german(server: Server, store: Store) -> None:
    who = store.consenting[41]
    svc = server.client(token=store.tokens["service"])
    d = svc.post("/v1/decide", json={"subject": who, "model": CREDIT, "locale": "de",
                                     "features": store.credit_features(who)}).json()
    link = svc.post("/v1/links", json={"subject": who}).json()["path"]
    page = httpx.get(server.url + link, headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert '<html lang="de">' in page.text and "Mit einem Menschen sprechen" in page.text
    fields = _form(page.text, "person")
    assert fields["decision_id"] == d["decision_id"]
    fields["message"] = "Bitte rufen Sie mich an."
    r = httpx.post(f"{server.url}{link}/person", data=fields, follow_redirects=True)
    assert "Wir haben einen Menschen gebeten" in r.text and "Antwort bis" in r.text
    assert "Ihre Anfragen an einen Menschen" in r.text and 'data-status="open"' in r.text
    # a contact case for staff on the person route, not a contest of the decision
    with Personalizer.open(store.db, keyring=store.keyring) as p:
        (case,) = p.contact.of_subject(who)
        assert case.route == "person" and case.decision_id == d["decision_id"]
        assert case.message == "Bitte rufen Sie mich an." and case.topic == "human_intervention"
    after = svc.get(f"/v1/decisions/{d['decision_id']}").json()
    assert after["contested"] is False


def test_ask_for_a_person_in_general_and_not_for_another_subjects_decision(
    server: Server, store: Store
) -> None:
    who, other = store.consenting[42], store.consenting[43]
    svc = server.client(token=store.tokens["service"])
    theirs = svc.post("/v1/decide", json={"subject": other, "model": CREDIT,
                                          "features": store.credit_features(other)}).json()
    link = svc.post("/v1/links", json={"subject": who}).json()["path"]
    page = httpx.get(server.url + link).text
    general = page.split('id="person"', 1)[1]
    fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', general.split("</form>")[0]))
    assert "decision_id" not in fields
    r = httpx.post(f"{server.url}{link}/person", data=fields, follow_redirects=True)
    assert r.status_code == 200 and "Done: we asked a person" in r.text
    assert "General question" in r.text
    # another person's decision id through this link: not found, and nothing filed for it
    forged = dict(fields, decision_id=theirs["decision_id"])
    r = httpx.post(f"{server.url}{link}/person", data=forged)
    assert r.status_code == 404
    with Personalizer.open(store.db, keyring=store.keyring) as p:
        assert [c.decision_id for c in p.contact.of_subject(who)] == [None]
        assert p.contact.of_subject(other) == []


def test_controls_that_would_do_nothing_say_so_instead_of_done(server: Server, store: Store
                                                              ) -> None:
    who = store.consenting[44]
    _recommend(server, store, who)
    link = server.client(token=store.tokens["service"]).post(
        "/v1/links", json={"subject": who}).json()["path"]
    page = httpx.get(server.url + link).text
    csrf = _form(page, "profiling")["csrf"]
    base = {"csrf": csrf, "lang": "en"}
    # a purpose that needs no consent, or was never given: nothing to withdraw
    for purpose in ("service", "no-such-purpose"):
        r = httpx.post(f"{server.url}{link}/withdraw", data={**base, "purpose": purpose})
        assert r.status_code in (400, 404) and "Done" not in r.text, purpose
    r = httpx.post(f"{server.url}{link}/fewer", data={**base, "concept": "nonexistent"})
    assert r.status_code == 400 and "Done" not in r.text
    # the error page says what happened in words, and leads back
    assert "Nothing was changed." in r.text and f'href="{link}"' in r.text
    r = httpx.post(f"{server.url}{link}/profiling", data={**base, "enabled": "maybe"})
    assert r.status_code == 422
    with Personalizer.open(store.db, keyring=store.keyring) as p:
        state = p.preferences.state(who)
        assert "nonexistent" not in state.concept_weights and state.profiling is True


def test_an_id_that_is_not_a_decision_id_is_not_echoed(server: Server, store: Store) -> None:
    svc = server.client(token=store.tokens["service"])
    r = svc.get("/v1/decisions/jane.canary@example.com")
    assert r.status_code == 404 and "jane.canary" not in r.text
    assert r.json()["code"] == "decision_not_found"
