"""End users and reviewers in a real browser (Playwright driving Debian's Chromium) against a
real ``whylens serve``; axe-core on every page; screenshots for the docs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .browser import CHROMIUM, FLAGS, check_axe, shoot
from .support import CREDIT, RANKER, Server, Store


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("the browser tests need Debian's Chromium: apt-get install chromium "
                    "(.ci/run installs it)")

    with sync_playwright() as pw:
        # Playwright gives each launch a fresh temporary profile (--user-data-dir) itself
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield b
        b.close()


def new_page(browser: Any, locale: str = "en-GB") -> Any:
    # bypass_csp only so the test can inject axe-core; the pages themselves run no script
    context = browser.new_context(bypass_csp=True, locale=locale,
                                  viewport={"width": 1100, "height": 900})
    return context.new_page()


def assert_accessible(page: Any) -> None:
    assert check_axe(page) == [], page.url


def test_end_user_sees_why_withdraws_and_next_list_is_not_personal(
    browser: Any, server: Server, store: Store
) -> None:
    who = "cust-0011" if "cust-0011" in store.consenting else store.consenting[2]
    svc = server.client(token=store.tokens["service"])
    first = svc.post("/v1/recommend", json={"subject": who, "model": RANKER,
                                             "candidates": store.candidates(who), "k": 5})
    assert first.status_code == 200 and first.json()["personalized"] is True
    decision = svc.post("/v1/decide", json={"subject": who, "model": CREDIT,
                                            "features": store.credit_features(who)})
    assert decision.status_code == 200
    link = svc.post("/v1/links", json={"subject": who}).json()["path"]

    page = new_page(browser)
    response = page.goto(server.url + link)
    assert response.status == 200
    assert "script-src" not in response.headers["content-security-policy"]
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Why am I seeing this?"
    card = page.locator(f"[data-recommendation='{first.json()['decision_id']}']")
    assert card.get_attribute("data-personalized") == "yes"
    assert card.locator("ul.bars li").count() > 0  # what counted most, as bars
    assert page.locator(".disclosure").first.inner_text()
    assert_accessible(page)
    shoot(page, "why-page.png")

    page.get_by_role("button", name="Withdraw: Personalised recommendations").click()
    message = page.locator("#message")
    assert "withdrew your consent" in message.inner_text()
    row = page.locator("tr[data-purpose='personalization'] .status")
    assert row.inner_text() == "withdrawn"
    assert_accessible(page)

    after = svc.post("/v1/recommend", json={"subject": who, "model": RANKER,
                                             "candidates": store.candidates(who), "k": 5}).json()
    assert after["personalized"] is False
    assert {i["source"] for i in after["items"]} == {"popular"}
    page.reload()
    latest = page.locator(f"[data-recommendation='{after['decision_id']}']")
    assert latest.get_attribute("data-personalized") == "no"
    assert latest.locator(".not-personal").count() == 1

    german = new_page(browser, locale="de-DE")
    german.goto(server.url + link)
    assert german.locator("html").get_attribute("lang") == "de"
    assert german.locator("h1").inner_text() == "Warum sehe ich das?"
    assert_accessible(german)
    shoot(german, "why-page-de.png")
    german.get_by_role("link", name="English").click()
    assert german.locator("h1").inner_text() == "Why am I seeing this?"


def login(browser: Any, server: Server, token: str) -> Any:
    page = new_page(browser)
    page.goto(server.url + "/console/login")
    assert_accessible(page)
    page.get_by_label("Your access token").fill(token)
    page.get_by_role("button", name="Log in").click()
    assert page.locator("h1").inner_text() == "Review queue"
    cookie = next(c for c in page.context.cookies() if c["name"] == "whylens_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    return page


def test_reviewer_overrides_and_the_person_reads_that_a_person_changed_it(
    browser: Any, server: Server, store: Store
) -> None:
    who = store.consenting[5]
    svc = server.client(token=store.tokens["service"])
    held = svc.post("/v1/decide", json={"subject": who, "model": CREDIT,
                                        "features": store.credit_features(who)}).json()
    assert held["status"] == "pending_review"
    link = svc.post("/v1/links", json={"subject": who, "decision_id": held["decision_id"]}
                    ).json()["path"]

    person = new_page(browser)
    person.goto(server.url + link)
    section = person.locator(f"[data-decision='{held['decision_id']}']")
    section.get_by_label("Your note to the reviewer").fill("Please look again: my orders grew.")
    section.get_by_role("button", name="Send and ask for a review").click()
    assert "request for a review was sent" in person.locator("#message").inner_text()

    page = login(browser, server, store.tokens["reviewer"])
    page.get_by_label("Contested").select_option("yes")
    page.get_by_role("button", name="Filter").click()
    assert_accessible(page)
    shoot(page, "console-queue.png")
    page.get_by_role("link", name=held["decision_id"]).click()
    assert page.locator("svg.waterfall rect").count() >= 3  # the SHAP waterfall
    assert "Please look again: my orders grew." in page.locator("blockquote.note").inner_text()
    assert_accessible(page)
    shoot(page, "console-decision.png")
    new = "declined" if held["outcome"] == "approved" else "approved"
    page.get_by_label("New outcome").select_option(new)
    page.get_by_label("Reason (required").fill("Orders grew since; checked the account.")
    page.get_by_role("button", name="Override").click()
    assert page.locator("#status").inner_text().startswith("overridden")

    person.reload()
    section = person.locator(f"[data-decision='{held['decision_id']}']")
    assert "A person reviewed this and changed the answer." in section.inner_text()
    assert f"Outcome: {new}" in section.inner_text()


def test_compliance_verifies_exports_and_reads_fairness_and_models(
    browser: Any, server: Server, store: Store
) -> None:
    who = store.consenting[6]
    made = server.client(token=store.tokens["service"]).post(
        "/v1/decide", json={"subject": who, "model": CREDIT,
                            "features": store.credit_features(who)})
    assert made.status_code == 200  # so the logic card has recorded decisions to measure on
    page = login(browser, server, store.tokens["compliance"])
    page.get_by_role("link", name="Audit").click()
    page.get_by_role("button", name="Verify now").click()
    assert page.locator("#verify + p").inner_text().startswith("OK:")
    page.get_by_role("button", name="Make a signed export").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename.endswith(".zip")
    assert "signed off by reviewer.tests" in page.locator("table").inner_text()
    assert_accessible(page)
    shoot(page, "console-audit.png")
    page.get_by_role("link", name="credit v1").click()
    assert page.locator("h1").inner_text() == "How credit works (version 1)"
    assert page.locator("svg.rates rect").count() >= 3  # concept shares as a chart
    assert_accessible(page)
    shoot(page, "console-logic-card.png")
    page.get_by_role("link", name="Fairness").click()
    assert_accessible(page)
