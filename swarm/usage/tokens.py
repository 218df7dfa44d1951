"""`Usage`: token counts and what they cost, the one value every usage view adds up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens by kind and their cost in US dollars (priced when they were recorded)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_write_tokens
            + self.cache_read_tokens
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cost_usd + other.cost_usd,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "tokens": self.tokens,
            "cost_usd": round(self.cost_usd, 6),
        }


def money(value: float | None) -> str:
    """`$1.23`, `$0.004`, or `unknown` when the runtime does not report usage."""
    if value is None:
        return "unknown"
    if 0 < value < 0.01:
        return f"${value:.3f}"
    return f"${value:,.2f}"


def count(tokens: int | None) -> str:
    """`950`, `12.3k`, `4.1M`."""
    if tokens is None:
        return "unknown"
    if tokens < 1000:
        return str(tokens)
    if tokens < 1_000_000:
        return f"{tokens / 1000:.1f}k"
    return f"{tokens / 1_000_000:.1f}M"
