"""Deterministic random streams.

A sandbox derives every generated value (ids, buyers, prices, scenario choices) from
``random_seed``. Each consumer asks for its own *named* child stream, so adding a draw in
one place never shifts the values produced somewhere else.

This is for test data only and must never be used for anything security related.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

T = TypeVar("T")

_CENT = Decimal("0.01")


class DeterministicRandom:
    """A seeded pseudo-random stream with helpers for test-data generation."""

    def __init__(self, seed: int, stream: str = "root") -> None:
        self.seed = seed
        self.stream = stream
        digest = hashlib.sha256(f"{seed}:{stream}".encode()).digest()
        # Not cryptographic on purpose: the whole point is reproducibility.
        self._rng = random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311

    def child(self, name: str) -> DeterministicRandom:
        """Return an independent stream derived from this one's seed and ``name``."""
        return DeterministicRandom(self.seed, f"{self.stream}/{name}")

    def randint(self, low: int, high: int) -> int:
        """Return an integer in ``[low, high]``."""
        return self._rng.randint(low, high)

    def uniform(self, low: float, high: float) -> float:
        """Return a float in ``[low, high]``."""
        return self._rng.uniform(low, high)

    def expovariate(self, rate: float) -> float:
        """Return an exponentially distributed interval with the given rate (events/s)."""
        return self._rng.expovariate(rate)

    def chance(self, probability: float) -> bool:
        """Return True with the given probability."""
        return self._rng.random() < probability

    def choice(self, items: Sequence[T]) -> T:
        """Return one element of a non-empty sequence."""
        if not items:
            raise ValueError("choice() from an empty sequence")
        return items[self._rng.randrange(len(items))]

    def weighted(self, options: Sequence[tuple[T, float]]) -> T:
        """Return one value from ``(value, weight)`` pairs."""
        if not options:
            raise ValueError("weighted() from an empty sequence")
        values = [value for value, _ in options]
        weights = [weight for _, weight in options]
        return self._rng.choices(values, weights=weights, k=1)[0]

    def sample(self, items: Sequence[T], k: int) -> list[T]:
        """Return ``k`` distinct elements."""
        return self._rng.sample(list(items), k)

    def money(self, low: Decimal, high: Decimal) -> Decimal:
        """Return an amount in ``[low, high]`` rounded to cents."""
        value = Decimal(str(self._rng.uniform(float(low), float(high))))
        return value.quantize(_CENT, rounding=ROUND_HALF_UP)

    def hex(self, length: int) -> str:
        """Return ``length`` lowercase hexadecimal characters."""
        return "".join(self._rng.choice("0123456789abcdef") for _ in range(length))

    def alnum(self, length: int, alphabet: str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789") -> str:
        """Return ``length`` characters from ``alphabet``."""
        return "".join(self._rng.choice(alphabet) for _ in range(length))
