"""Random JSON payloads for ``/invocations``, drawn from a seed: the same ones on every run.

Hypothesis draws differently as the modules loaded around it change (it mixes in constants
found in the project's code), so its counts of outcomes cannot be stated exactly; these can.
The shapes are those a client can send: each payload form, valid passengers with a few fields
replaced, removed or added, objects that are no passengers at all, and any JSON value.
"""

from __future__ import annotations

import random
import string

from tests.passengers import BRAUND

# Text drawn from ASCII and a few characters that break naive code: accents, other scripts,
# a NUL, a line separator, an emoji.
_ALPHABET = f"{string.ascii_letters}{string.digits}{string.punctuation} \t\néßΩ名\x00\u2028😀"
# Values that sit on an edge for a schema: the allowed ones, near misses, extremes, numbers
# as text.
_EDGES = [
    None, True, False, 0, 1, -1, 2, 3, 4, 120, 121, 2**53 + 1, -(2**63), 2**64, 0.5, -0.0, 2.5,
    1e308, 5e-324, "", " ", "male", "female", "Male", "S", "C", "Q", "x", "3", "NaN", "inf",
]  # fmt: skip
_FIELDS = [*BRAUND, "Extra", "", "pclass", "Survived"]


def _text(rng: random.Random, max_size: int) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, max_size)))


def json_value(rng: random.Random, depth: int = 0) -> object:
    """Any JSON value, nested at most two deep."""
    kind = rng.random()
    if depth < 2 and kind < 0.1:
        return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 2 and kind < 0.2:
        return {_text(rng, 5): json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if kind < 0.5:
        return rng.choice(_EDGES)
    if kind < 0.65:
        return rng.randint(-(10**6), 10**6)
    if kind < 0.8:
        return rng.uniform(-1000, 1000)
    return _text(rng, 30)


def record(rng: random.Random) -> dict:
    """Mostly a valid passenger with up to four fields changed and three removed; else junk."""
    if rng.random() < 0.2:
        return {_text(rng, 10): json_value(rng) for _ in range(rng.randint(0, 6))}
    changed = {**BRAUND, **{rng.choice(_FIELDS): json_value(rng) for _ in range(rng.randint(0, 4))}}
    for field in rng.sample(list(BRAUND), rng.randint(0, 3)):
        changed.pop(field, None)
    return changed


def payload(rng: random.Random) -> object:
    """One request body: a payload form of MLflow's, or any JSON value."""
    records = [record(rng) for _ in range(rng.randint(0, 4))]
    form = rng.randrange(6)
    if form == 0:
        return {"dataframe_records": records}
    if form == 1:
        return {"instances": records}
    if form == 2:
        return {"inputs": records}
    if form == 3:
        return {"inputs": record(rng)}
    if form == 4:
        return {"dataframe_split": json_value(rng)}
    return json_value(rng)


def payloads(seed: int, count: int) -> list[object]:
    """``count`` payloads drawn from ``seed``."""
    rng = random.Random(seed)
    return [payload(rng) for _ in range(count)]
