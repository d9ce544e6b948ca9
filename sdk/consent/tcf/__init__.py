"""IAB Transparency & Consent Framework (TCF v2.2 / v2.3) TC strings.

Decode, encode and strictly validate TC strings, with a frozen typed model of their content::

    from sdk.consent.tcf import decode_tc_string, encode_tc_string

    model = decode_tc_string(tc_string, validate=True)
    if 755 in model.vendor_consents and {5, 6} <= model.purpose_consents: ...
    assert decode_tc_string(encode_tc_string(model)) == model

``p.consent.apply_tcf(subject, tc_string, vendor_id)`` maps a string onto whylens purposes and
records the outcome on the consent ledger (see :mod:`sdk.consent.tcf.apply`). Interoperability
with the IAB's own JavaScript library is checked in CI (tests/interop/tcf).
"""

from .apply import TcfOutcome, tcf_decisions
from .codec import MAX_TC_STRING_LENGTH, decode_tc_string, encode_tc_string
from .model import PublisherRestriction, PublisherTC, RestrictionType, TCModel
from .validate import DISCLOSED_VENDORS_REQUIRED_FROM, tc_model_problems, validate_tc_model

__all__ = [
    "DISCLOSED_VENDORS_REQUIRED_FROM",
    "MAX_TC_STRING_LENGTH",
    "PublisherRestriction",
    "PublisherTC",
    "RestrictionType",
    "TCModel",
    "TcfOutcome",
    "decode_tc_string",
    "encode_tc_string",
    "tc_model_problems",
    "tcf_decisions",
    "validate_tc_model",
]
