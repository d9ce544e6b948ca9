"""A back-dated consent event that reaches the ledger after a later one (an import racing a
withdrawal in another process: each process judges ``at=`` against what it has folded) must not
undo it: every process folds a subject's events in effective-time order, an ending winning a tie.
Found by an attacker review (the grant dated one second before the withdrawal, appended after
it, read as ``given`` in a fresh process)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sdk import Personalizer
from sdk.consent.events import iso


def test_a_backdated_grant_appended_after_a_withdrawal_does_not_undo_it(
    store_url: str, keyring_path: Path
) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.consent.grant("cust-7", "personalization", source="signup")
        withdrawal = p.consent.withdraw("cust-7", "personalization", source="why-page")
        withdrawn_at = p.ledger.get(withdrawal.ledger_seqs[-1]).ts
        pseudo = p.keys.pseudonym("cust-7")
        # what the racing import process appends: its check_at saw only the first grant
        p.ledger.append("consent", "consent.grant", {
            "purposes": ["personalization"], "notice": None, "source": "import",
            "expires_at": None, "expires": {}, "at": iso(withdrawn_at - timedelta(seconds=1)),
        }, subject=pseudo)
    with Personalizer.open(store_url, keyring=keyring_path) as fresh:
        assert fresh.consent.state("cust-7").purposes["personalization"] == "withdrawn"
        # and a grant the person really gives later still counts
        fresh.consent.grant("cust-7", "personalization", source="why-page")
        assert fresh.consent.state("cust-7").purposes["personalization"] == "given"
