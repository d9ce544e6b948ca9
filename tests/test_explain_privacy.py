"""Issue 7, item 5: end-user reasons never name a sensitive feature or one whose purpose was not
granted — property-tested over random schemas, concepts, consent states and attributions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sdk import Concept, Feature, FeatureSchema
from sdk.explain.concepts import end_user_reasons, suppression
from sdk.explain.narrative import decision_text, item_text, pair_text, reviewer_text

PURPOSES = ("service", "personalization", "profiling", "marketing")
NEEDS_CONSENT = {"personalization", "profiling", "marketing"}  # "service" runs on the contract


@st.composite
def cases(draw: st.DrawFn) -> tuple[FeatureSchema, set[str], dict[str, float], set[str]]:
    n = draw(st.integers(1, 9))
    features = []
    for i in range(n):
        features.append(
            Feature(
                f"f{i}",
                purpose=draw(st.sampled_from(PURPOSES)),
                # labels end in "Q" so that no label is a substring of another
                label=f"L{i}Q",
                translations={"de": f"D{i}Q"},
                concept=f"c{draw(st.integers(0, 3))}",
                sensitive=draw(st.booleans()),
            )
        )
    used = sorted({f.concept for f in features})
    concepts = []
    for name in used:
        own = sorted({f.purpose for f in features if f.concept == name})
        if draw(st.booleans()):
            concepts.append(
                Concept(
                    name,
                    label=f"C{name}Q",
                    translations={"de": f"K{name}Q"},
                    sensitive=draw(st.sampled_from([None, False, True])),
                    purpose=draw(st.sampled_from(("", *own))),
                )
            )
    schema = FeatureSchema(features, concepts=concepts)
    granted = set(draw(st.sets(st.sampled_from(sorted(NEEDS_CONSENT)))))
    masked = tuple(f.name for f in features if f.purpose in NEEDS_CONSENT - granted)
    values = draw(
        st.lists(
            st.one_of(st.just(0.0), st.floats(-5, 5, allow_nan=False)), min_size=n, max_size=n
        )
    )
    contributions = dict(zip(schema.names, values, strict=True))
    refused = NEEDS_CONSENT - granted
    expected = set()
    declared = {c.name: c.purpose for c in concepts if c.purpose}
    for f in features:
        c = schema.concept_of(f.name)
        if f.sensitive or c.sensitive or f.purpose in refused or declared.get(c.name) in refused:
            expected.add(f.name)
    return schema, set(masked), contributions, expected


def _forbidden(schema: FeatureSchema, hidden: set[str]) -> list[str]:
    """Every label that would give a held-back feature away: its own, and its concept's."""
    words = []
    for name in hidden:
        f = schema[name]
        words += [f.label, *f.translations.values()]
        c = schema.concept_of(name)
        if c.label.startswith("C"):  # a declared concept label
            words += [c.label, *c.translations.values()]
    return words


@settings(max_examples=300, deadline=None)
@given(cases())
def test_end_user_text_never_names_held_back_features(case) -> None:
    schema, masked, contributions, expected = case
    hidden = set(suppression(schema, sorted(masked)))
    # held back exactly: sensitive (feature or concept), purpose not granted (feature or concept)
    assert hidden == expected
    forbidden = _forbidden(schema, hidden)
    for locale in ("en", "de"):
        for positive_only in (False, True):
            shown = end_user_reasons(
                schema,
                contributions,
                masked=sorted(masked),
                positive_only=positive_only,
                locale=locale,
            )
            assert set(shown.suppressed) == hidden
            assert 0.0 <= shown.shown_share <= 1.0 + 1e-12
            for reason in shown.reasons:
                assert not set(reason.features) & hidden
            texts = [
                decision_text(
                    outcome="declined",
                    status=status,
                    contested=False,
                    shown=shown,
                    locale=locale,
                    masked=bool(masked),
                )
                for status in ("automated", "pending_review", "overridden", "approved")
            ]
            texts.append(item_text(shown, personalized=True, locale=locale))
            texts.append(pair_text(shown, locale=locale))
            for text in texts:
                for word in forbidden:
                    assert word not in text


@settings(max_examples=100, deadline=None)
@given(cases())
def test_reviewer_view_records_every_suppression(case) -> None:
    from sdk.explain.concepts import reviewer_reasons

    schema, masked, contributions, _ = case
    shown = end_user_reasons(schema, contributions, masked=sorted(masked))
    text = reviewer_text(
        schema=schema,
        reasons=reviewer_reasons(schema, contributions),
        values=dict.fromkeys(schema.names, 1.0),
        base_value=0.0,
        score=sum(contributions.values()),
        trigger=None,
        suppressed=shown.suppressed,
        why_suppressed=shown.why_suppressed,
    )
    for line in text.splitlines():
        for name in schema.names:
            if f" {name} = " in line:
                assert ("hidden from the person" in line) == (name in shown.suppressed)
                if name in shown.suppressed:
                    assert shown.why_suppressed[name] in ("sensitive",) or "not granted" in line
