"""``whylens demo``: the handmade-goods shop story, end to end, on a fresh SQLite database.

Customers consent (or not), a ranker is trained on consenting customers only, recommendations come
with a why, a withdrawal takes effect on the very next list, an uncertain loyalty-credit decision
goes to a person who overrides it with a reason; then the human touch (a customer's note, the
owner's picks, a sampled list review that blocks an off-brand item, a request for a person), and
the audit chain verifies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from ..models.schema import Concept, Feature, FeatureSchema
from ..personalizer import Personalizer, default_keyring_path
from ..types import Decision, Notice, Recommendations, ReviewPolicy
from .shop import (
    CREDIT_FEATURES,
    FEATURE_COLUMNS,
    Shop,
    candidates_for,
    credit_feature_docs,
    credit_frame,
    feature_docs,
    generate_shop,
    ranking_frame,
    story_customers,
)
from .touch import TouchResult, tell_human_touch

__all__ = ["DemoResult", "run_story"]

NOTICE = Notice(notice_id="shop-privacy-notice", version="3", language="en")
RANKER = "shop-ranker"
CREDIT = "loyalty-credit"
REVIEW_BAND = (0.35, 0.65)
SIGN_OFF_NOTE = "Checked the model card: holdout metrics, features and rows left out."


@dataclass(frozen=True)
class DemoResult:
    """What the story produced, for tests and for the closing summary."""

    db_path: Path
    personal: Recommendations
    not_consenting: Recommendations
    before_withdrawal: Recommendations
    after_withdrawal: Recommendations
    held: Decision
    overridden: Decision
    verified_records: int
    touch: TouchResult | None = None


RANKING_CONCEPTS = (
    Concept(
        "browsing",
        label="your recent browsing in this category",
        reviewer_label="category and maker browsing",
        description="Views of items in the same category and by the same maker.",
        controllable=True,
        translations={"de": "Ihr letztes Stöbern in dieser Kategorie"},
    ),
    Concept(
        "price",
        label="the price compared with what you usually spend",
        reviewer_label="price, absolute and relative to usual spend",
        translations={"de": "der Preis im Vergleich zu Ihren üblichen Ausgaben"},
    ),
)


def ranking_schema() -> FeatureSchema:
    """The shop ranker's features, from the shop's feature documentation, in concepts."""
    docs = feature_docs()
    return FeatureSchema(
        (Feature(name, **docs[name]) for name in FEATURE_COLUMNS), concepts=RANKING_CONCEPTS
    )


GERMAN_LABELS = {
    "months_as_customer": "wie lange Sie schon Kunde sind",
    "orders_last_year": "wie viele Bestellungen Sie letztes Jahr aufgegeben haben",
    "returns_last_year": "wie viele Bestellungen Sie letztes Jahr zurückgeschickt haben",
    "avg_order_eur": "Ihr durchschnittlicher Bestellwert",
    "late_payments": "verspätete Zahlungen früherer Rechnungen",
}


def credit_schema() -> FeatureSchema:
    """The loyalty-credit classifier's features (with German labels)."""
    docs = credit_feature_docs()
    # what a customer can change, and which way: "what would change this" only moves these
    moves = {
        "orders_last_year": {"direction": "increase", "step": 1.0, "max_value": 60.0},
        "returns_last_year": {"direction": "decrease", "step": 1.0, "min_value": 0.0},
    }
    # one concept per feature: a decision's reasons name each factor on its own
    return FeatureSchema(
        Feature(
            name,
            **{**docs[name], "concept": name, **moves.get(name, {})},
            translations={"de": GERMAN_LABELS[name]},
        )
        for name in CREDIT_FEATURES
    )


def fresh_database(folder: Path) -> Path:
    """``folder/shop.db``, with any earlier demo database and its keyring removed."""
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "shop.db"
    for path in (
        db_path,
        db_path.with_name("shop.db-wal"),
        db_path.with_name("shop.db-shm"),
        default_keyring_path(db_path),
    ):
        path.unlink(missing_ok=True)
    return db_path


def onboard(p: Personalizer, shop: Shop) -> None:
    """Store every customer's profile (encrypted) and record the consents they gave."""
    for row in shop.customers.itertuples(index=False):
        p.profiles.put(
            row.customer_id,
            {"display_name": row.display_name, "email": row.email, "city": row.city},
        )
        if row.consents_to_personalization:
            p.consent.grant(
                row.customer_id,
                ["personalization", "profiling"],
                notice=NOTICE,
                source="signup-form",
            )


def run_story(folder: Path, console: Console | None = None) -> DemoResult:
    """Tell the story, printing to ``console`` (a quiet one if None). Returns what it made."""
    out = console or Console(quiet=True)
    started = time.perf_counter()
    db_path = fresh_database(folder)
    shop = generate_shop(seed=7)
    story = story_customers()
    titles = dict(zip(shop.items["item_id"], shop.items["title"], strict=True))
    out.rule("[bold]whylens demo: a handmade-goods shop")
    out.print(f"Database: [bold]{db_path}[/bold] (keyring beside it, mode 0600)\n")
    with Personalizer.open(db_path) as p:
        onboard(p, shop)
        consenting = int(shop.customers["consents_to_personalization"].sum())
        out.print(
            f"{len(shop.customers)} customers, {len(shop.items)} items, {len(shop.events)} "
            f"browsing and purchase events. {consenting} customers agreed to personalization; "
            "their profiles are stored encrypted, one key per customer."
        )
        training = ranking_frame(shop)
        card = p.models.train_ranker(
            RANKER,
            training,
            ranking_schema(),
            target="relevance",
            group="query_id",
            num_boost_round=60,
        )
        p.models.sign_off(RANKER, card.version, reviewer="reviewer.anna", note=SIGN_OFF_NOTE)
        out.print(
            f"Trained [bold]{RANKER}[/bold] v{card.version} on {card.rows_used} rows of "
            f"consenting customers; left out {card.rows_left_out} rows without consent. "
            f"Holdout NDCG@5 {card.metrics.get('ndcg@5', float('nan')):.3f}. "
            "Signed off by reviewer.anna before it serves.\n"
        )

        def show(title: str, recs: Recommendations) -> None:
            table = Table(title=title, title_justify="left", show_lines=False)
            table.add_column("#", justify="right")
            table.add_column("item", no_wrap=True)
            table.add_column("source", no_wrap=True)
            table.add_column("why", ratio=1)
            for item in recs.items:
                table.add_row(str(item.rank), titles[item.item_id], item.source, item.why)
            out.print(table)
            out.print(f"[italic]{recs.notice}[/italic]\n")

        def recommend(customer: str) -> Recommendations:
            return p.recommend(customer, candidates_for(shop, customer), model=RANKER, k=5)

        logic = p.logic_card(RANKER, training)
        main = ", ".join(f"{c.label} {c.share:.0%}" for c in logic.concepts[:4])
        out.print(f"Main parameters (model logic card, mean |SHAP|): {main}.\n")

        personal = recommend(story.outdoor_lover)
        show(f"For {story.outdoor_lover} (consented; loves the outdoors)", personal)
        top, runner_up = personal.items[0], personal.items[1]
        pair = p.explain_pair(personal.decision_id, top.item_id, runner_up.item_id)
        out.print(
            f"#1 {titles[top.item_id]}, #2 {titles[runner_up.item_id]}. "
            f"[italic]{pair.text}[/italic]\n"
        )
        not_consenting = recommend(story.never_consents)
        show(f"For {story.never_consents} (never consented)", not_consenting)
        before = recommend(story.withdraws)
        show(f"For {story.withdraws} (consented)", before)
        p.consent.withdraw(story.withdraws, "personalization", source="privacy-settings")
        out.print(f"[bold]{story.withdraws} withdraws consent to personalization.[/bold]")
        after = recommend(story.withdraws)
        show(f"For {story.withdraws}, on the very next request", after)

        out.rule("An automated decision, held for a person")
        credit = credit_frame(shop)
        credit_card = p.models.train_classifier(
            CREDIT,
            credit,
            credit_schema(),
            target="repaid",
            outcomes=("declined", "approved"),
            review_policy=ReviewPolicy(uncertainty_band=REVIEW_BAND),
            num_boost_round=60,
            params={"min_data_in_leaf": 20, "num_leaves": 4},
        )
        p.models.sign_off(
            CREDIT, credit_card.version, reviewer="reviewer.anna", note=SIGN_OFF_NOTE
        )
        out.print(
            f"Trained [bold]{CREDIT}[/bold] v{credit_card.version} on {credit_card.rows_used} "
            f"consenting customers (holdout AUC {credit_card.metrics.get('auc', float('nan')):.2f})"
            f"; decisions with a repayment probability in [{REVIEW_BAND[0]}, {REVIEW_BAND[1]}] "
            "go to human review."
        )
        applicant = credit.loc[credit["subject"] == story.loan_applicant].iloc[0]
        features = {name: float(applicant[name]) for name in CREDIT_FEATURES}
        held = p.decide(story.loan_applicant, features, model=CREDIT)
        out.print(
            Panel(
                f"status [bold]{held.status}[/bold] (probability {held.probability:.2f}; "
                f"{held.review_trigger or 'no trigger'})\n\n"
                f"{p.explain(held.decision_id, counterfactual=True).text}",
                title=f"What {story.loan_applicant} sees",
            )
        )
        reviewer_view = p.explain(held.decision_id, audience="reviewer", counterfactual=True)
        out.print(Panel(reviewer_view.text, title="What the reviewer sees"))
        overridden = p.reviews.override(
            held.decision_id,
            outcome="approved",
            reviewer="reviewer.anna",
            reason="Six years of orders elsewhere in the group; the one late payment was a "
            "bank transfer error, confirmed with the payment provider.",
        )
        history = Table(title=f"Audit history of {held.decision_id}", title_justify="left")
        for column in ("ledger #", "when (UTC)", "action", "by", "outcome"):
            history.add_column(column, no_wrap=True)
        for action in overridden.history:
            history.add_row(
                str(action.seq),
                f"{action.at:%H:%M:%S.%f}"[:-3],
                action.action,
                action.actor,
                action.outcome or "",
            )
        out.print(history)
        last = overridden.history[-1]
        out.print(
            f"Reason recorded with the override by {last.actor}: [italic]{last.reason}[/italic]"
        )
        out.print(Panel(overridden.why, title=f"What {story.loan_applicant} sees now"))
        german = p.explain(held.decision_id, locale="de", counterfactual=True)
        out.print(Panel(german.text, title="… and in German"))
        touch = tell_human_touch(
            p,
            shop,
            out,
            show,
            recommend,
            titles,
            customer=story.outdoor_lover,
            applicant=story.loan_applicant,
            applicant_decision=held.decision_id,
        )
        report = p.audit.verify()
        status = "[green]OK[/green]" if report.ok else f"[red]FAILED[/red]: {report.problem}"
        out.print(
            f"\naudit verify: {status} — {report.checked} ledger records, head "
            f"{(report.head_hash or '')[:16]}…"
        )
    out.print(
        f"\nDone in {time.perf_counter() - started:.1f}s. Explore it: "
        f"[bold]whylens why {held.decision_id} --db {db_path} --audience reviewer[/bold]"
    )
    return DemoResult(
        db_path=db_path,
        personal=personal,
        not_consenting=not_consenting,
        before_withdrawal=before,
        after_withdrawal=after,
        held=held,
        overridden=overridden,
        verified_records=report.checked if report.ok else -1,
        touch=touch,
    )
