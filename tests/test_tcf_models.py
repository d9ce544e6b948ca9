"""Random TC models (shared by the interop and fuzz tests) and codec round trips on them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sdk.consent.tcf import (
    PublisherRestriction,
    PublisherTC,
    RestrictionType,
    TCModel,
    decode_tc_string,
    encode_tc_string,
)
from sdk.consent.tcf.model import from_deciseconds, to_deciseconds
from sdk.consent.tcf.sections import vendor_vector_bits
from sdk.errors import InvalidTCString

SEED = 20261123
START = to_deciseconds(datetime(2020, 1, 1, tzinfo=UTC))
SPAN = to_deciseconds(datetime(2028, 1, 1, tzinfo=UTC)) - START
# two-letter consent languages the IAB library accepts for a GVL (it takes the language from it)
_LANGUAGES = (
    "AR BG BS CA CS CY DA DE EL EN ES ET EU FI FR GL HE HI HR HU ID IS IT JA KA KO LT LV MK MS "
    "MT NL NO PL PT RO RU SK SL SQ SR SV SW TH TL TR UK VI ZH"
)
OFFICIAL_LANGUAGES = _LANGUAGES.split()
NO_LI = {1, 3, 4, 5, 6}  # the IAB encoder clears these legitimate-interest bits (TCF v2.2)


def _letters(rng: random.Random) -> str:
    return chr(65 + rng.randrange(26)) + chr(65 + rng.randrange(26))


def random_vendors(rng: random.Random, cap: int, *, nonempty: bool = False) -> frozenset[int]:
    """Vendor ids in shapes that favour each encoding: dense, runs, sparse, edge cases."""
    shape = rng.choice(["empty", "dense", "runs", "sparse", "one", "edge"])
    if shape == "empty" and nonempty:
        shape = "one"
    if shape == "empty":
        return frozenset()
    if shape == "one":
        return frozenset({rng.randint(1, cap)})
    if shape == "edge":  # around the 45-id threshold where a range can start to win
        n = rng.randint(40, 50)
        return frozenset({n} | {rng.randint(1, n) for _ in range(rng.randint(0, 3))})
    if shape == "dense":
        n = rng.randint(1, cap)
        p = rng.random()
        return frozenset(i for i in range(1, n + 1) if rng.random() < p) or frozenset({n})
    if shape == "runs":
        out: set[int] = set()
        for _ in range(rng.randint(1, 8)):
            first = rng.randint(1, cap)
            out.update(range(first, min(cap, first + rng.randint(0, 200)) + 1))
        return frozenset(out)
    return frozenset(rng.randint(1, cap) for _ in range(rng.randint(1, 12)))


def random_model(rng: random.Random, *, official: bool = False) -> TCModel:
    """A random consent model. ``official=True`` keeps to what the IAB encoder can round-trip
    without changing it (see tests/interop/tcf/README.md for the fields it constrains)."""
    cap = 1200 if official else 6000
    created = START + rng.randrange(SPAN)
    restrictions = []
    for _ in range(rng.choice([0, 0, 1, 2, 4])):
        if official:
            purpose = rng.randint(1, 11)
            kind = 0 if purpose == 1 else rng.randint(0, 2)
        else:
            purpose, kind = rng.randint(1, 63), rng.randint(0, 2)
        restrictions.append(
            PublisherRestriction.of(purpose, kind, random_vendors(rng, cap, nonempty=True))
        )
    li_pool = [i for i in range(1, 25) if not (official and i in NO_LI)]
    publisher_tc = None
    if rng.random() < 0.5:
        num = rng.randint(0, 63)
        publisher_tc = PublisherTC(
            purpose_consents=frozenset(rng.sample(range(1, 25), rng.randint(0, 24))),
            purpose_legitimate_interests=frozenset(rng.sample(range(1, 25), rng.randint(0, 5))),
            num_custom_purposes=num,
            custom_purpose_consents=frozenset(rng.sample(range(1, num + 1), rng.randint(0, num))),
            custom_purpose_legitimate_interests=frozenset(
                rng.sample(range(1, num + 1), rng.randint(0, num))
            ),
        )
    return TCModel(
        created=from_deciseconds(created),
        last_updated=from_deciseconds(created + rng.randrange(10_000_000)),
        cmp_id=rng.randint(2, 4095),
        cmp_version=rng.randint(0, 4095),
        consent_screen=rng.randint(0, 63),
        consent_language=rng.choice(OFFICIAL_LANGUAGES) if official else _letters(rng),
        vendor_list_version=rng.randint(1, 4095),
        policy_version=rng.choice([2, 4, 5, 5, 5, rng.randint(0, 63)]),
        is_service_specific=rng.random() < 0.5,
        use_non_standard_texts=rng.random() < 0.2,
        special_feature_optins=frozenset(rng.sample(range(1, 13), rng.randint(0, 12))),
        purpose_consents=frozenset(rng.sample(range(1, 25), rng.randint(0, 24))),
        purpose_legitimate_interests=frozenset(rng.sample(li_pool, rng.randint(0, 6))),
        purpose_one_treatment=rng.random() < 0.2,
        publisher_country_code=_letters(rng),
        vendor_consents=random_vendors(rng, cap),
        vendor_legitimate_interests=random_vendors(rng, cap),
        publisher_restrictions=tuple(restrictions),
        vendors_disclosed=random_vendors(rng, cap) if rng.random() < 0.7 else None,
        vendors_allowed=random_vendors(rng, cap) if rng.random() < 0.1 else None,
        publisher_tc=publisher_tc,
    )


def on_gvl(model: TCModel, gvl: frozenset[int]) -> TCModel:
    """``model`` with every vendor id not in ``gvl`` removed (what the IAB encoder would do)."""
    fields = dict(model)
    for name in ("vendor_consents", "vendor_legitimate_interests"):
        fields[name] = fields[name] & gvl
    for name in ("vendors_disclosed", "vendors_allowed"):
        if fields[name] is not None:
            fields[name] = fields[name] & gvl
    fields["publisher_restrictions"] = tuple(
        PublisherRestriction.of(r.purpose_id, r.restriction_type, r.vendors & gvl)
        for r in model.publisher_restrictions
    )
    return TCModel(**fields)


def official_fields(m: TCModel) -> dict[str, Any]:
    """``m`` in the shape tests/interop/tcf/roundtrip.js uses (the IAB TCModel's field names)."""
    pub = m.publisher_tc or PublisherTC()
    return {
        "version": m.version,
        "created": to_deciseconds(m.created) * 100,
        "lastUpdated": to_deciseconds(m.last_updated) * 100,
        "cmpId": m.cmp_id,
        "cmpVersion": m.cmp_version,
        "consentScreen": m.consent_screen,
        "consentLanguage": m.consent_language,
        "vendorListVersion": m.vendor_list_version,
        "policyVersion": m.policy_version,
        "isServiceSpecific": m.is_service_specific,
        "useNonStandardTexts": m.use_non_standard_texts,
        "specialFeatureOptins": sorted(m.special_feature_optins),
        "purposeConsents": sorted(m.purpose_consents),
        "purposeLegitimateInterests": sorted(m.purpose_legitimate_interests),
        "purposeOneTreatment": m.purpose_one_treatment,
        "publisherCountryCode": m.publisher_country_code,
        "vendorConsents": sorted(m.vendor_consents),
        "vendorLegitimateInterests": sorted(m.vendor_legitimate_interests),
        "publisherRestrictions": {
            f"{r.purpose_id}-{int(r.restriction_type)}": sorted(r.vendors)
            for r in m.publisher_restrictions
        },
        "vendorsDisclosed": sorted(m.vendors_disclosed or ()),
        "vendorsAllowed": sorted(m.vendors_allowed or ()),
        "publisherTC": {
            "purposeConsents": sorted(pub.purpose_consents),
            "purposeLegitimateInterests": sorted(pub.purpose_legitimate_interests),
            "numCustomPurposes": pub.num_custom_purposes,
            "customPurposeConsents": sorted(pub.custom_purpose_consents),
            "customPurposeLegitimateInterests": sorted(pub.custom_purpose_legitimate_interests),
        },
    }


def official_input(m: TCModel) -> dict[str, Any]:
    """``m`` as the encode input of roundtrip.js (optional segments null when absent)."""
    f = official_fields(m)
    f["publisherRestrictions"] = [
        {
            "purposeId": r.purpose_id,
            "restrictionType": int(r.restriction_type),
            "vendors": sorted(r.vendors),
        }
        for r in m.publisher_restrictions
    ]
    f["vendorsDisclosed"] = sorted(m.vendors_disclosed) if m.vendors_disclosed is not None else None
    f["vendorsAllowed"] = sorted(m.vendors_allowed) if m.vendors_allowed is not None else None
    if m.publisher_tc is None:
        f["publisherTC"] = None
    return f


# -- tests -------------------------------------------------------------------------------------


def test_round_trip_of_random_models_is_exact() -> None:
    rng = random.Random(SEED)
    for _ in range(300):
        model = random_model(rng)
        text = encode_tc_string(model)
        assert decode_tc_string(text) == model
        assert encode_tc_string(decode_tc_string(text)) == text


def test_each_vendor_vector_takes_the_shorter_encoding() -> None:
    dense = frozenset(range(1, 501))
    use_range, bits, ranges = vendor_vector_bits(dense)
    assert use_range and ranges == ((1, 500),) and bits == 17 + 12 + 33
    scattered = frozenset(range(1, 501, 2))
    use_range, bits, _ = vendor_vector_bits(scattered)
    assert not use_range and bits == 17 + 499
    # one id: a range entry costs 17 + 12 + 17 = 46 bits, a bitfield 17 + max id; a tie keeps
    # the bitfield. (The IAB library never ranges below max id 46, so here we are shorter.)
    assert vendor_vector_bits(frozenset({29})) == (False, 46, ())
    assert vendor_vector_bits(frozenset({30})) == (True, 46, ((30, 30),))


def test_range_and_bitfield_strings_decode_to_the_same_set() -> None:
    base = TCModel(
        created=datetime(2026, 3, 2, tzinfo=UTC),
        last_updated=datetime(2026, 3, 2, tzinfo=UTC),
        cmp_id=10,
        vendor_list_version=100,
        vendor_consents=range(1, 2001),
        vendors_disclosed=range(1, 2001),
    )
    text = encode_tc_string(base)
    assert len(text) < 70  # ranges, not two 2000-bit bitfields (over 660 characters)
    assert decode_tc_string(text).vendor_consents == frozenset(range(1, 2001))


def test_timestamps_keep_decisecond_precision() -> None:
    at = datetime(2026, 5, 1, 12, 0, 0, 149_999, tzinfo=UTC)
    model = TCModel(
        created=at, last_updated=at + timedelta(days=1), cmp_id=2, vendor_list_version=1
    )
    back = decode_tc_string(encode_tc_string(model))
    assert back.created == datetime(2026, 5, 1, 12, 0, 0, 100_000, tzinfo=UTC)


def test_restrictions_are_merged_per_purpose_and_type() -> None:
    model = TCModel(
        created=datetime(2026, 1, 1, tzinfo=UTC),
        last_updated=datetime(2026, 1, 1, tzinfo=UTC),
        cmp_id=2,
        vendor_list_version=1,
        publisher_restrictions=(
            PublisherRestriction.of(2, 1, [5, 6, 7]),
            PublisherRestriction.of(2, RestrictionType.REQUIRE_CONSENT, [8, 20]),
            PublisherRestriction.of(3, 0, []),
        ),
    )
    assert model.publisher_restrictions == (PublisherRestriction.of(2, 1, [5, 6, 7, 8, 20]),)
    assert model.restriction_for(20, 2) is RestrictionType.REQUIRE_CONSENT
    assert model.restriction_for(9, 2) is None


@pytest.mark.parametrize(
    "field, value",
    [
        ("purpose_consents", {25}),
        ("vendor_consents", {0}),
        ("consent_language", "en"),
        ("cmp_id", 4096),
        ("created", datetime(2026, 1, 1)),
    ],
)
def test_model_rejects_values_the_format_cannot_hold(field: str, value: object) -> None:
    kwargs: dict[str, Any] = {
        "created": datetime(2026, 1, 1, tzinfo=UTC),
        "last_updated": datetime(2026, 1, 1, tzinfo=UTC),
        "cmp_id": 2,
        "vendor_list_version": 1,
    }
    kwargs[field] = value
    with pytest.raises(ValueError):
        TCModel(**kwargs)


def test_restriction_ranges_join_across_ids_missing_from_the_gvl() -> None:
    model = TCModel(
        created=datetime(2026, 3, 2, tzinfo=UTC),
        last_updated=datetime(2026, 3, 2, tzinfo=UTC),
        cmp_id=2,
        vendor_list_version=1,
        publisher_restrictions=(PublisherRestriction.of(2, 0, [5, 9, 20]),),
    )
    gvl = [5, 9, 12, 20]  # 6-8 are not on the GVL, 12 is
    joined = decode_tc_string(encode_tc_string(model, gvl_vendor_ids=gvl))
    assert joined.publisher_restrictions[0].vendor_ranges == ((5, 9), (20, 20))
    plain = encode_tc_string(model)
    assert len(encode_tc_string(model, gvl_vendor_ids=gvl)) <= len(plain)
    assert decode_tc_string(plain) == model
    with pytest.raises(InvalidTCString):
        encode_tc_string(model, gvl_vendor_ids=[5, "9"])  # type: ignore[list-item]
