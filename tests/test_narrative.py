"""Issue 7, items 4 and 7: narratives per audience and locale, ranking explanations (why this
item, why A above B), reviewer plots, and the reading-ease formula they are held to."""

from __future__ import annotations

import sys

import pytest
from conftest import feature_row
from test_explain_data import german_personalizer, rank_frame, rank_schema

from sdk.errors import ConfigurationError, DecisionNotFound, ExplanationError
from sdk.explain import plots
from sdk.explain.readability import flesch_reading_ease, syllables, text_stats


@pytest.fixture(scope="module")
def german(tmp_path_factory: pytest.TempPathFactory):
    p, frame, schema = german_personalizer(tmp_path_factory.mktemp("narrative"))
    ids = [
        p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i), model="credit")
        .decision_id
        for i in range(800, 820)
    ]
    # one applicant without consent: every feature masked
    p.consent.withdraw(frame["subject"].iloc[820], "profiling")
    masked = p.decide(frame["subject"].iloc[820], feature_row(frame, schema, 820), model="credit")
    yield p, frame, schema, ids, masked.decision_id
    p.close()


@pytest.fixture(scope="module")
def ranked(tmp_path_factory: pytest.TempPathFactory):
    from sdk import Personalizer

    p = Personalizer.open(tmp_path_factory.mktemp("rank") / "r.db")
    train, test = rank_frame("rank.train"), rank_frame("rank.test")
    for subject in sorted(set(train["subject"])):
        p.consent.grant(subject, "personalization")
    p.models.train_ranker("letor", train, rank_schema(), target="relevance", group="query_id",
                          num_boost_round=20)
    p.models.sign_off("letor", 1, reviewer="reviewer.tests")
    cand = test[test["query_id"] == 0].drop(columns=["query_id", "relevance"])
    subject = train["subject"].iloc[0]  # consents; the test subjects do not
    recs = p.recommend(subject, cand.drop(columns=["subject"]), model="letor", k=8)
    stranger = p.recommend("nobody", cand.drop(columns=["subject"]), model="letor", k=8)
    yield p, recs, stranger
    p.close()


def test_syllables_and_flesch_formula() -> None:
    counted = {"the": 1, "cat": 1, "table": 2, "decision": 3, "automated": 4, "makes": 1,
               "places": 2, "personalization": 6, "reviewed": 2, "every": 3, "idea": 3}
    assert {w: syllables(w) for w in counted} == counted
    assert text_stats("The cat sat on the mat.") == (1, 6, 6)
    # 206.835 - 1.015 * 6 - 84.6 * 1
    assert flesch_reading_ease("The cat sat on the mat.") == pytest.approx(116.145)
    legal = ("The controller shall implement appropriate technical and organisational measures "
             "to ensure a level of security appropriate to the risk, including pseudonymisation "
             "and encryption of personal data.")
    assert flesch_reading_ease(legal) < 30


def test_end_user_reviewer_auditor_from_one_explanation(german) -> None:
    p, _, schema, ids, _ = german
    end_user = p.explain(ids[0])
    assert end_user.text.startswith("The answer is: ")
    assert 1 <= len(end_user.reasons) <= 3 and "Other factors explain the rest." in end_user.text
    shown = 1.0 - end_user.other_share
    assert f"These explain {round(shown * 100)}% of the result." in end_user.text
    assert "ask for a person" in end_user.text and "stop us from using your data" in end_user.text
    assert "age" not in end_user.contributions
    reviewer = p.explain(ids[0], audience="reviewer")
    assert reviewer.text.startswith(f"score (raw margin) {reviewer.score:+.4f} = base value")
    for name in schema.names:
        assert f" {name} = " in reviewer.text
    assert "[sensitive, hidden from the person: sensitive]" in reviewer.text
    assert "by concept:" in reviewer.text and "review trigger: none" in reviewer.text
    auditor = p.explain(ids[0], audience="auditor")
    model = p.models.get("credit")
    assert f"sha256:{model.content_hash}" in auditor.text
    vector = dict(kv.split("=") for kv in auditor.text.split("contributions: ")[1].split(", "))
    assert {k: float(v) for k, v in vector.items()} == auditor.contributions  # exact, 17 digits
    assert "additivity_residual=" in auditor.text and auditor.model_hash == model.content_hash


def test_german_and_masked_texts(german) -> None:
    p, _, _, ids, masked = german
    de = p.explain(ids[0], locale="de")
    assert de.text.startswith("Ergebnis: ") and "andere Faktoren" in de.text
    assert any(label in de.text for label in ("der beantragte Kredit", "Ihre Konten",
                                              "wie lange Sie schon am selben Ort leben"))
    assert "Am wichtigsten war" in de.text and "The answer" not in de.text
    reviewer_de = p.explain(ids[0], audience="reviewer", locale="de")
    assert reviewer_de.text.startswith("Score (Rohwert)")
    assert "Prüfanlass: keiner" in reviewer_de.text
    none_shown = p.explain(masked)
    assert not none_shown.reasons and none_shown.contributions == {}
    # no consent to profiling: held for a person, and the person is told so in plain words
    assert none_shown.text.startswith("No automatic decision was made.")
    assert "approved" not in none_shown.text and "declined" not in none_shown.text
    assert p.explain(masked, locale="de").text.startswith(
        "Es wurde keine automatische Entscheidung getroffen."
    )
    hidden = p.explain(masked, audience="reviewer")
    assert "hidden from the person: purpose profiling not granted" in hidden.text
    assert "review trigger: consent_missing: profiling" in hidden.text
    with pytest.raises(ConfigurationError, match="locale"):
        p.explain(ids[0], locale="xx")


def test_item_text_and_pair_explanations(ranked) -> None:
    p, recs, stranger = ranked
    first, second, last = recs.items[0], recs.items[1], recs.items[-1]
    item = p.explain(recs.decision_id, item_id=first.item_id)
    assert item.text.startswith(first.why)
    assert "fewer items like this" in item.text and "pick items for you" in item.text
    popular = p.explain(stranger.decision_id, item_id=stranger.items[0].item_id)
    assert "fewer items like this" in popular.text and "pick items for you" not in popular.text
    pair = p.explain_pair(recs.decision_id, first.item_id, last.item_id)
    assert pair.text.startswith("Why the first item is above the second: ")
    assert pair.score_a == first.score and pair.score_b == last.score
    full = p.explain_pair(recs.decision_id, first.item_id, last.item_id, audience="reviewer")
    assert sum(full.contributions.values()) == pytest.approx(first.score - last.score, abs=1e-9)
    assert full.additivity_residual is not None and full.additivity_residual < 1e-9
    for reason in pair.reasons:  # concept differences are exact sums of feature differences
        assert reason.contribution == pytest.approx(
            sum(full.contributions[n] for n in reason.features), abs=1e-12
        )
    swapped = p.explain_pair(recs.decision_id, second.item_id, first.item_id, audience="auditor")
    assert sum(swapped.contributions.values()) == pytest.approx(second.score - first.score)
    with pytest.raises(DecisionNotFound):
        p.explain_pair(recs.decision_id, first.item_id, "not-served")
    with pytest.raises(ExplanationError):
        p.explain_pair(recs.decision_id, first.item_id, first.item_id)
    with pytest.raises(ExplanationError, match="decisions"):
        p.counterfactual(recs.decision_id)


def test_pair_needs_a_recommendation(german) -> None:
    p, _, _, ids, _ = german
    with pytest.raises(ExplanationError, match="recommendation"):
        p.explain_pair(ids[0], "a", "b")


def test_reviewer_plots_png_and_svg(german, tmp_path) -> None:
    p, _, _, ids, _ = german
    reviewer = p.explain(ids[0], audience="reviewer")
    png = plots.waterfall(reviewer, tmp_path / "w.png")
    assert png.startswith(b"\x89PNG") and (tmp_path / "w.png").read_bytes() == png
    svg = plots.bar_chart(reviewer, format="svg")
    assert svg.startswith(b"<?xml") and b"<svg" in svg
    assert plots.bar_chart(reviewer, format="svg") == svg  # deterministic bytes
    end_user = p.explain(ids[0])
    assert b"other factors" in plots.waterfall(end_user, format="svg")  # held-back part, as one
    with pytest.raises(ConfigurationError, match="png"):
        plots.bar_chart(reviewer, format="gif")  # type: ignore[arg-type]


def test_plots_without_matplotlib_name_the_extra(german, monkeypatch) -> None:
    p, _, _, ids, _ = german
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if it were not installed
    with pytest.raises(ConfigurationError, match=r"pip install 'whylens\[plots\]'"):
        plots.waterfall(p.explain(ids[0], audience="reviewer"))


def test_demo_end_user_texts_read_plainly(tmp_path) -> None:
    from sdk import Personalizer
    from sdk.demo.story import run_story

    result = run_story(tmp_path / "demo")
    texts = []
    with Personalizer.open(result.db_path) as p:
        for recs in (result.personal, result.not_consenting, result.after_withdrawal):
            texts += [p.explain(recs.decision_id, item_id=i.item_id).text for i in recs.items]
            texts.append(
                p.explain_pair(recs.decision_id, recs.items[0].item_id, recs.items[1].item_id).text
            )
        held = p.explain(result.held.decision_id, counterfactual=True)
        texts.append(held.text)
    assert held.counterfactual is not None and held.counterfactual.found
    # a reviewer overrode the model's "declined": what would have changed it no longer applies
    assert result.overridden.status == "overridden"
    assert "What would change this" not in held.text
    scores = [flesch_reading_ease(t) for t in texts]
    assert min(scores) >= 60, min(zip(scores, texts, strict=True))
