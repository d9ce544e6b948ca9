"""TC string decoding and encoding (issue 3, web consent signals).

* decode (lenient), decode + strict validation, and encode of 2,000 realistic TC strings
  (a few hundred vendors out of ~1,200, some ranges, restrictions, the disclosed-vendors segment);
* baselines in the same run: plain ``base64.urlsafe_b64decode`` of the same strings (the floor of
  any decoder), and the official IAB JavaScript library's ``TCString.decode`` on Node (when
  tests/interop/tcf/node_modules is installed, e.g. by the interop test);
* the size of our strings against the IAB library's 24-bit segment padding.

Best of several rounds (the machine is shared: the minimum is the least noisy estimate).
"""

from __future__ import annotations

import base64
import json
import random
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _timing import best

import sdk.subjects  # noqa: F401  # first: sdk.subjects.events and sdk.consent import each other
from sdk.consent.tcf import (
    PublisherRestriction,
    TCModel,
    decode_tc_string,
    encode_tc_string,
)

N = 2_000
ROUNDS = 5
INTEROP = Path(__file__).resolve().parents[1] / "tests" / "interop" / "tcf"


def _models() -> list[TCModel]:
    rng = random.Random(7)
    out = []
    for _ in range(N):
        when = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**7))
        top = rng.randint(800, 1200)
        share = rng.random()
        consents = {v for v in range(1, top) if rng.random() < share}
        if rng.random() < 0.3:  # "accept all": long runs, range-encoded
            consents = set(range(1, top))
        out.append(
            TCModel(
                created=when,
                last_updated=when,
                cmp_id=rng.randint(2, 400),
                vendor_list_version=rng.randint(100, 200),
                policy_version=5,
                purpose_consents=set(rng.sample(range(1, 12), rng.randint(0, 11))),
                purpose_legitimate_interests={2, 7, 8, 9, 10, 11},
                vendor_consents=consents,
                vendor_legitimate_interests={v for v in consents if rng.random() < 0.3},
                publisher_restrictions=tuple(
                    PublisherRestriction.of(
                        rng.randint(7, 11), rng.randint(0, 2), rng.sample(range(1, top), 5)
                    )
                    for _ in range(rng.randint(0, 3))
                ),
                vendors_disclosed=set(range(1, top)),
            )
        )
    return out


def _best(fn: Callable[[], None], rounds: int = ROUNDS) -> float:
    return best(fn, rounds)

def _node_decode_seconds(strings: list[str]) -> float | None:
    if shutil.which("node") is None or not (INTEROP / "node_modules").exists():
        return None
    done = subprocess.run(
        ["node", "roundtrip.js"],
        cwd=INTEROP,
        capture_output=True,
        text=True,
        timeout=300,
        input=json.dumps({"benchDecode": strings, "rounds": ROUNDS}),
        check=True,
    )
    return json.loads(done.stdout)["benchSeconds"] / ROUNDS


def main() -> None:
    models = _models()
    strings = [encode_tc_string(m) for m in models]
    padded = [seg + "=" * (-len(seg) % 4) for s in strings for seg in s.split(".")]

    def raw_b64() -> None:
        for seg in padded:
            base64.urlsafe_b64decode(seg)

    def decode() -> None:
        for s in strings:
            decode_tc_string(s)

    def decode_strict() -> None:
        for s in strings:
            decode_tc_string(s, validate=True)

    def encode() -> None:
        for m in models:
            encode_tc_string(m)

    t_raw = _best(raw_b64)
    t_dec = _best(decode)
    t_strict = _best(decode_strict)
    t_enc = _best(encode)
    t_node = _node_decode_seconds(strings)
    rate = lambda t: f"{N / t:>12,.0f}/s"  # noqa: E731
    print(f"{N:,} TC strings, mean {sum(map(len, strings)) / N:,.0f} characters")
    print(f"{'operation':<40}{'rate':>14}{'vs baseline':>14}")
    print(f"{'base64url decode only (floor)':<40}{rate(t_raw)}{'(floor)':>14}")
    if t_node is not None:
        print(f"{'IAB @iabtechlabtcf/core decode (Node)':<40}{rate(t_node)}{'baseline':>14}")
    base = t_node or t_raw
    print(f"{'whylens decode':<40}{rate(t_dec)}{base / t_dec:>13.2f}x")
    print(f"{'whylens decode + strict validation':<40}{rate(t_strict)}{base / t_strict:>13.2f}x")
    print(f"{'whylens encode':<40}{rate(t_enc)}{'':>14}")
    # the IAB library pads every segment to 24 bits (4 characters); we pad to a byte
    theirs = sum(sum(-(-len(seg) // 4) * 4 for seg in s.split(".")) for s in strings)
    ours = sum(len(s.replace(".", "")) for s in strings)
    print(f"characters: ours {ours:,} vs 24-bit padded {theirs:,} ({ours / theirs:.3f}x)")
    print("(ratios >1x: faster than the baseline; the Node baseline when installed)")


if __name__ == "__main__":
    main()
