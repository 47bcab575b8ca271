"""The one place an LLM call's cost is computed: provider list price × tokens, no margin (SPEC §7, §8).

`price_for` finds the ModelPrice in force; `cost_for` (or `cost_at_price`, when the caller already holds
the price, e.g. to estimate a reservation) turns tokens into USD as a Decimal, or None when unpriced.
"""

from __future__ import annotations

import time
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext

from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from usage.models import ModelPrice

COST_PLACES = Decimal("0.00000001")  # llm_usage_log.cost_usd has 8 decimal places
TOKENS_PER_RATE = 1_000_000


# Prices in force now, per process, for a minute: the gateway asks before every call, and they change a
# few times a year. Saving or deleting a price here clears it at once (the signal below); another
# process sees an edit within CACHE_SECONDS.
CACHE_SECONDS = 60.0
_current: dict[tuple[str, str], tuple[float, ModelPrice | None]] = {}


@receiver([post_save, post_delete], sender=ModelPrice)
def forget_current_prices(**kwargs) -> None:
    _current.clear()


def current_price(provider: str, model: str) -> ModelPrice | None:
    """price_for(provider, model) now, from the per-process cache when it is under a minute old."""
    key = (provider, model)
    cached = _current.get(key)
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    price = price_for(provider, model)
    _current[key] = (time.monotonic(), price)
    return price


def price_for(provider: str, model: str, at: datetime | None = None) -> ModelPrice | None:
    """The price in force for `provider`/`model` at `at` (default now), or None when it has none.

    Among rows with effective_from <= at: an exact model name beats a prefix pattern (`gpt-4o-mini*`),
    the longest pattern beats a shorter one, and then the latest effective_from wins. One query.
    """
    # The provider's exact rows and patterns (a few dozen at most), ranked here: half the time of
    # ranking them in SQL, whose CASE and LIKE expressions Django takes longer to compile than to run.
    candidates = ModelPrice.objects.filter(
        Q(model=model) | Q(model__endswith="*"),
        provider=provider,
        effective_from__lte=at or timezone.now(),
    )
    best, best_rank = None, None
    for price in candidates:
        exact = price.model == model
        if not exact and not model.startswith(price.model[:-1]):
            continue
        rank = (exact, len(price.model), price.effective_from)
        if best_rank is None or rank > best_rank:
            best, best_rank = price, rank
    return best


def cost_at_price(
    price: ModelPrice | None, *, input_tokens: int, cached_tokens: int, output_tokens: int
) -> Decimal | None:
    """USD for these tokens at `price`, quantized to 8 places (half up); None when `price` is None.

    `input_tokens` includes the cached ones (as OpenAI-compatible APIs report them); cached tokens beyond
    the input are counted as input, since a provider cannot have cached more than it was sent.
    """
    for name, count in (
        ("input_tokens", input_tokens),
        ("cached_tokens", cached_tokens),
        ("output_tokens", output_tokens),
    ):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"{name} must be a whole number of tokens, 0 or more (got {count!r}).")
    if price is None:
        return None
    cached_tokens = min(cached_tokens, input_tokens)
    cached_rate = price.input_per_mtok if price.cached_input_per_mtok is None else price.cached_input_per_mtok
    # Exact: integers times 6-place rates need far fewer digits than this context holds.
    with localcontext(prec=60):
        total = (
            (input_tokens - cached_tokens) * Decimal(price.input_per_mtok)
            + cached_tokens * Decimal(cached_rate)
            + output_tokens * Decimal(price.output_per_mtok)
        ) / TOKENS_PER_RATE
        return total.quantize(COST_PLACES, rounding=ROUND_HALF_UP)


def cost_for(
    provider: str,
    model: str,
    *,
    input_tokens: int,
    cached_tokens: int,
    output_tokens: int,
    at: datetime | None = None,
) -> Decimal | None:
    """USD for one call's tokens at the price in force at `at` (default now); None when unpriced, never 0.

    Raises ValueError for a negative or non-integer token count.
    """
    return cost_at_price(
        price_for(provider, model, at),
        input_tokens=input_tokens,
        cached_tokens=cached_tokens,
        output_tokens=output_tokens,
    )
