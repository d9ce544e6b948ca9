"""The demo's human touch: a customer's note, the owner's two picks, the next list with the
staff picks and their why, a sampled list review that blocks an off-brand item for everyone, and a
sensitive request that goes straight to a person."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from rich.console import Console
from rich.table import Table

from ..audit.contact import ServiceLevel
from ..personalizer import Personalizer
from ..types import ContactCase, Note, Recommendations
from .shop import Shop, candidates_for

__all__ = ["OWNER", "TouchResult", "tell_human_touch"]

OWNER = "owner.lena"
NOTE = (
    "My dad turns 70 next month. He cooks every day and his old bread board finally cracked - "
    "something wooden for his kitchen, please, not too expensive."
)
OFF_BRAND = "Bought in from a wholesaler, not made by hand: off-brand for this shop."
SAMPLE_RATE = 0.25
BUSY_AFTERNOON = tuple(f"cust-{n:04d}" for n in range(60, 200))
LISTS = 20


@dataclass(frozen=True)
class TouchResult:
    """What the human-touch part produced, for tests."""

    note: Note
    picked: tuple[str, str]
    with_picks: Recommendations
    sampled: tuple[str, ...]
    blocked: str
    after_block: Recommendations
    case: ContactCase


def tell_human_touch(
    p: Personalizer,
    shop: Shop,
    out: Console,
    show: Callable[[str, Recommendations], None],
    recommend: Callable[[str], Recommendations],
    titles: dict[str, str],
    *,
    customer: str,
    applicant: str,
    applicant_decision: str,
) -> TouchResult:
    """Tell the human-touch part of the story; returns what it made."""
    p.curation.configure(staff_slots=(0, 3), staff_names={OWNER: "Lena"})
    p.contact.configure(
        service_level=ServiceLevel(routine=timedelta(hours=72), person=timedelta(hours=24)),
        contact_text={
            "en": "Ask for a person any time: “talk to us” on the why page, or reply to any "
            "e-mail from the shop.",
        },
    )
    out.rule("The human touch: a note, a person's picks, oversight of what is served")
    p.consent.grant(customer, "customer_notes", source="account-page")
    note = p.notes.add(customer, NOTE, topic="gift")
    out.print(
        f"{customer} agrees to keep notes for the shop (purpose customer_notes) and leaves one. "
        "It is stored encrypted under her key; the ledger records only who did what, and when."
    )
    inbox = Table(title=f"{OWNER}'s inbox (open notes)", title_justify="left")
    for column in ("note", "topic", "text"):
        inbox.add_column(column, overflow="fold")
    for item in p.notes.inbox():
        inbox.add_row(item.note_id[:13] + "…", item.topic or "", item.text or "")
    out.print(inbox)
    picked = _two_wooden_gifts(p, shop, customer)
    for item_id in picked:
        p.curation.pick(customer, item_id, staff=OWNER, note_id=note.note_id)
    resolved = p.notes.resolve(
        note.note_id,
        staff=OWNER,
        action="picked_items",
        reply="Happy birthday to your dad! I put two boards from our workshop in your list.",
    )
    out.print(
        f"{OWNER} reads it and picks two items: {titles[picked[0]]} and {titles[picked[1]]}; "
        f"note {resolved.status} ({resolved.action}).\n"
    )
    with_picks = recommend(customer)
    show(f"For {customer}, her next list (staff picks in slots 1 and 4)", with_picks)
    disclosure = with_picks.disclosure
    if disclosure is not None:
        out.print(f"Disclosure: {disclosure.text}\nReaching a person: {disclosure.contact}\n")

    p.oversight.configure(rates={with_picks.model: SAMPLE_RATE})
    served: dict[str, Recommendations] = {}
    for who in BUSY_AFTERNOON:  # at least LISTS lists, and on until one is drawn (bounded)
        served[who] = recommend(who)
        if len(served) >= LISTS and p.oversight.queue():
            break
    queue = p.oversight.queue()
    out.print(
        f"A busy afternoon: {len(served)} lists served; {len(queue)} drawn for review by a "
        f"person (rate {SAMPLE_RATE:.0%} for {with_picks.model}, seeded by each decision id)."
    )
    first = queue[0]
    owner_of = {recs.decision_id: who for who, recs in served.items()}
    flagged = first.items[-1]
    p.oversight.review(first.decision_id, staff=OWNER, off_brand=[flagged], reason=OFF_BRAND)
    for later in queue[1:]:
        p.oversight.review(later.decision_id, staff=OWNER)
    [metric] = [
        m for m in p.oversight.metrics(first.model) if m.model_version == first.model_version
    ]
    out.print(
        f"{OWNER} reviews them: in the list of {owner_of[first.decision_id]} she marks "
        f"[bold]{titles[flagged]}[/bold] off-brand (\"{OFF_BRAND}\") — it is now blocked for "
        f"everyone; the other items and lists are fine. Off-brand share for {metric.model} "
        f"v{metric.model_version}: {metric.with_off_brand} of {metric.reviewed} reviewed lists "
        f"({metric.off_brand_share or 0:.0%})."
    )
    holders = [who for who, recs in served.items() if flagged in {i.item_id for i in recs.items}]
    sampled_customer = owner_of[first.decision_id]
    after = recommend(sampled_customer)
    again = [after, *(recommend(who) for who in holders if who != sampled_customer)]
    still = sum(flagged in {i.item_id for i in recs.items} for recs in again)
    out.print(
        f"{len(holders)} of the afternoon's lists had it; their next lists: "
        f"{'none has it' if not still else f'{still} STILL HAVE IT'}.\n"
    )
    case = p.contact.request(
        applicant,
        decision_id=applicant_decision,
        message="Could someone call me about the loyalty credit? I was ill last winter, which "
        "is why one payment was late.",
    )
    why = "; ".join(e.detail for e in case.escalations) or "routine"
    out.print(
        f"{applicant} asks for a person: case routed to [bold]{case.route}[/bold] ({why}), "
        f"due {case.due_at:%Y-%m-%d %H:%M} UTC."
    )
    return TouchResult(
        note=note,
        picked=picked,
        with_picks=with_picks,
        sampled=tuple(s.decision_id for s in queue),
        blocked=flagged,
        after_block=after,
        case=case,
    )


def _two_wooden_gifts(p: Personalizer, shop: Shop, customer: str) -> tuple[str, str]:
    """The two best-rated kitchen items among the customer's candidates (boards first)."""
    ids = set(candidates_for(shop, customer)["item_id"])
    kitchen = shop.items[(shop.items["category"] == "kitchen") & shop.items["item_id"].isin(ids)]
    ranked = kitchen.assign(board=kitchen["title"].str.contains("board")).sort_values(
        ["board", "rating", "item_id"], ascending=[False, False, True]
    )
    first, second = ranked["item_id"].iloc[:2].tolist()
    return str(first), str(second)
