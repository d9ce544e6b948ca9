"""Bad input: 100,000 random and mutated TC strings raise only InvalidTCString, and every string
that does decode re-encodes to a string that decodes to the same model."""

from __future__ import annotations

import random
import string
import time

import pytest
from test_tcf_models import SEED, random_model

from sdk.consent.tcf import decode_tc_string, encode_tc_string
from sdk.consent.tcf.bits import BitWriter
from sdk.errors import InvalidTCString

ALPHABET = string.ascii_letters + string.digits + "-_"
N_CASES = 100_000


def _mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(10)
        i = rng.randrange(len(text) + 1)
        if op == 0 and text:  # replace a character by another base64url character
            i = min(i, len(text) - 1)
            text = text[:i] + rng.choice(ALPHABET) + text[i + 1 :]
        elif op == 1:  # truncate
            text = text[:i]
        elif op == 2:  # insert
            text = text[:i] + rng.choice(ALPHABET + ".") + text[i:]
        elif op == 3 and text:  # delete
            text = text[:i] + text[i + 1 :]
        elif op == 4:  # flip the first characters: version, segment type
            text = rng.choice(ALPHABET) + text[1:]
        elif op == 5:  # duplicate, drop or shuffle segments
            parts = text.split(".")
            choice = rng.randrange(3)
            if choice == 0:
                parts.append(rng.choice(parts))
            elif choice == 1 and len(parts) > 1:
                parts.pop(rng.randrange(len(parts)))
            else:
                rng.shuffle(parts)
            text = ".".join(parts)
        elif op == 6:  # a character outside the alphabet
            text = text[:i] + rng.choice("=+/ \n\x00é€\ud800") + text[i:]
        elif op == 7:  # a run of all-ones (huge counts and ids)
            text = text[:i] + "_" * rng.randint(1, 20) + text[i + 20 :]
        elif op == 8:  # a run of zeros
            text = text[:i] + "A" * rng.randint(1, 20) + text[i + 20 :]
        else:  # append a random segment
            text = text + "." + "".join(rng.choices(ALPHABET, k=rng.randint(0, 30)))
    return text


def _random_text(rng: random.Random) -> str:
    n = rng.choice([0, 1, 2, 5, 10, 30, 60, 120])
    pool = ALPHABET + "." if rng.random() < 0.9 else string.printable
    text = "".join(rng.choices(pool, k=n))
    if rng.random() < 0.5 and text:
        text = "C" + text[1:]  # version 2 starts with "C": get past the first check
    return text


@pytest.mark.slow
def test_100k_random_and_mutated_strings_raise_only_typed_errors() -> None:
    rng = random.Random(SEED)
    valid = [encode_tc_string(random_model(rng)) for _ in range(200)]
    started = time.process_time()  # CPU time: the machine running CI may be shared
    decoded = rejected = 0
    for n in range(N_CASES):
        text = _random_text(rng) if n % 5 == 0 else _mutate(rng, rng.choice(valid))
        try:
            model = decode_tc_string(text, validate=n % 2 == 0)
        except InvalidTCString as exc:
            rejected += 1
            if len(text) > 24:  # the message never echoes the string (or a long piece of it)
                assert text[:24] not in str(exc)
            continue
        decoded += 1
        assert decode_tc_string(encode_tc_string(model)) == model
    elapsed = time.process_time() - started
    assert decoded + rejected == N_CASES
    assert rejected > N_CASES // 2 and decoded > 2_000  # both paths are exercised
    assert elapsed < 30, f"fuzz took {elapsed:.1f} s"


@pytest.mark.parametrize("value", [None, b"CPXxRfAPXxRfA", 42, ["C"], "", ".", "C.", "\ud800"])
def test_non_strings_and_degenerate_strings_are_typed_errors(value: object) -> None:
    with pytest.raises(InvalidTCString):
        decode_tc_string(value)  # type: ignore[arg-type]


def _core_with_restrictions(count: int, entries: int) -> str:
    w = BitWriter()
    for value, nbits in [
        (2, 6),
        (17_000_000_000, 36),
        (17_000_000_000, 36),
        (10, 12),
        (1, 12),
        (0, 6),
        (4 * 64 + 13, 12),
        (100, 12),
        (5, 6),
        (0, 2),
        (0, 12),
        (0, 24),
        (0, 24),
        (0, 1),
        (0, 12),
    ]:
        w.write(value, nbits)
    for _ in range(2):  # empty vendor consents and legitimate interests
        w.write(0, 17)
    w.write(count, 12)
    for i in range(count):
        w.write(i % 63 + 1, 6)
        w.write(i // 63 % 3, 2)
        w.write(entries, 12)
        for _ in range(entries):
            w.write(1, 1)
            w.write(1, 16)
            w.write(65535, 16)
    return w.to_base64url()


def test_oversized_and_amplifying_inputs_are_refused_or_kept_compact() -> None:
    with pytest.raises(InvalidTCString, match="longer than"):
        decode_tc_string("C" * 100_001)
    # 4,095 restrictions naming all 65,535 vendors each (about 270 million pairs): decoded in
    # moments and kept as ranges, not expanded
    text = _core_with_restrictions(4095, 1)
    started = time.perf_counter()
    model = decode_tc_string(text)
    assert time.perf_counter() - started < 2
    assert len(model.publisher_restrictions) == 63 * 3
    assert all(r.vendor_ranges == ((1, 65535),) for r in model.publisher_restrictions)
    # the same, cut off in the middle: a typed error naming the field
    with pytest.raises(InvalidTCString, match="publisher_restrictions"):
        decode_tc_string(text[: len(text) // 2])
