"""The price table: US dollars per million tokens, per model family.

A model id (`claude-sonnet-4-5-20250929`) is priced by the longest table key it contains,
the layout's `prices:` entries first, so a layout can correct a price or add a model
without a release. A model no key matches is not guessed: its tokens are counted and its
cost reported as unpriced (`price_for` returns None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from swarm.usage.tokens import Usage

PER = 1_000_000


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens; the layout's `prices.<model>` mapping validates into it."""

    input: float = field(metadata={"min": 0, "max": 10000, "help": "per million input tokens"})
    output: float = field(metadata={"min": 0, "max": 10000, "help": "per million output tokens"})
    cache_write: float | None = field(
        default=None, metadata={"min": 0, "max": 10000, "help": "default: 1.25 x input"}
    )
    cache_read: float | None = field(
        default=None, metadata={"min": 0, "max": 10000, "help": "default: 0.1 x input"}
    )

    @property
    def write(self) -> float:
        return self.cache_write if self.cache_write is not None else self.input * 1.25

    @property
    def read(self) -> float:
        return self.cache_read if self.cache_read is not None else self.input * 0.1


# Anthropic's list prices (5-minute cache writes). The 5.x family is priced as Claude Code
# 2.1.332 prices it in its own `cost-state` (measured with 1M tokens of each kind).
DEFAULT_PRICES: dict[str, Price] = {
    "claude-opus-5": Price(4.0, 20.0, 5.0, 0.20),
    "claude-sonnet-5": Price(2.0, 10.0, 2.5, 0.10),
    "claude-haiku-5": Price(0.5, 0.5, 0.625, 0.05),
    "claude-opus-4-5": Price(5.0, 25.0, 6.25, 0.50),
    "claude-opus-4-6": Price(5.0, 25.0, 6.25, 0.50),
    "claude-opus-4": Price(15.0, 75.0, 18.75, 1.50),
    "claude-3-opus": Price(15.0, 75.0, 18.75, 1.50),
    "claude-sonnet-4": Price(3.0, 15.0, 3.75, 0.30),
    "claude-3-7-sonnet": Price(3.0, 15.0, 3.75, 0.30),
    "claude-3-5-sonnet": Price(3.0, 15.0, 3.75, 0.30),
    "claude-haiku-4": Price(1.0, 5.0, 1.25, 0.10),
    "claude-3-5-haiku": Price(0.80, 4.0, 1.0, 0.08),
    "claude-3-haiku": Price(0.25, 1.25, 0.30, 0.03),
}


@dataclass(frozen=True)
class PriceTable:
    """The package's prices with a layout's on top."""

    overrides: Mapping[str, Price] = field(default_factory=dict)

    def price_for(self, model: str) -> Price | None:
        name = model.lower()
        for table in (self.overrides, DEFAULT_PRICES):
            keys = sorted((k for k in table if k.lower() in name), key=len, reverse=True)
            if keys:
                return table[keys[0]]
        return None

    def cost(self, model: str, usage: Usage) -> Usage:
        """`usage` with its cost filled in: counts x the model's prices (0 if unpriced)."""
        price = self.price_for(model)
        if price is None:
            return usage
        dollars = (
            usage.input_tokens * price.input
            + usage.output_tokens * price.output
            + usage.cache_write_tokens * price.write
            + usage.cache_read_tokens * price.read
        ) / PER
        return Usage(
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_write_tokens,
            usage.cache_read_tokens,
            dollars,
        )
