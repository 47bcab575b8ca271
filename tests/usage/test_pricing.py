"""usage.pricing: which price is in force, and the cost arithmetic for each rate (hand-computed Decimals)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from usage.models import ModelPrice
from usage.pricing import cost_at_price, cost_for, price_for

# A provider of our own, so the prices the migration seeded never take part.
PROVIDER = "testprov"
LAST_YEAR = timezone.now() - timedelta(days=365)


def add_price(model: str, input="1", output="1", cached=None, *, effective_from=LAST_YEAR, provider=PROVIDER):
    return ModelPrice.objects.create(
        provider=provider,
        model=model,
        input_per_mtok=Decimal(input),
        cached_input_per_mtok=None if cached is None else Decimal(cached),
        output_per_mtok=Decimal(output),
        effective_from=effective_from,
    )


def cost(model: str, *, input_tokens=0, cached_tokens=0, output_tokens=0, at=None):
    return cost_for(
        PROVIDER,
        model,
        input_tokens=input_tokens,
        cached_tokens=cached_tokens,
        output_tokens=output_tokens,
        at=at,
    )


# The arithmetic, each rate on its own.


def test_input_tokens_cost_the_input_rate(db):
    add_price("m", input="2.50", output="10.00", cached="1.25")
    # 1234 × 2.50 / 1e6
    assert cost("m", input_tokens=1234) == Decimal("0.00308500")


def test_cached_tokens_cost_their_own_rate_and_the_rest_of_the_input_the_input_rate(db):
    add_price("m", input="2.50", output="10.00", cached="1.25")
    # (1000 − 400) × 2.50 + 400 × 1.25 = 1500 + 500 = 2000 → /1e6
    assert cost("m", input_tokens=1000, cached_tokens=400) == Decimal("0.00200000")


def test_cached_tokens_cost_the_input_rate_when_the_model_has_no_cached_rate(db):
    add_price("m", input="3.00", output="15.00", cached=None)
    # 1000 × 3.00 whether cached or not
    assert cost("m", input_tokens=1000, cached_tokens=400) == Decimal("0.00300000")


def test_output_tokens_cost_the_output_rate(db):
    add_price("m", input="3.00", output="15.00", cached="0.30")
    # 777 × 15.00 / 1e6
    assert cost("m", output_tokens=777) == Decimal("0.01165500")


def test_all_three_rates_add_up(db):
    add_price("m", input="0.15", output="0.60", cached="0.075")
    # (12000 − 3000) × 0.15 + 3000 × 0.075 + 850 × 0.60 = 1350 + 225 + 510 = 2085 → /1e6
    assert cost("m", input_tokens=12000, cached_tokens=3000, output_tokens=850) == Decimal("0.00208500")


def test_cost_is_rounded_half_up_to_8_places(db):
    add_price("half", input="0.065", output="0.000064", cached="0.125")
    # 0.000000065 → 0.00000007 (half-even would give …06)
    assert cost("half", input_tokens=1) == Decimal("0.00000007")
    # 0.000000125 → 0.00000013 (half-even would give …12)
    assert cost("half", input_tokens=1, cached_tokens=1) == Decimal("0.00000013")
    # 1e6 × 0.000064 / 1e6 = 0.000064 exactly; 1 token → 0.000000000064 → 0
    assert cost("half", output_tokens=1_000_000) == Decimal("0.00006400")
    assert cost("half", output_tokens=1) == Decimal("0E-8")


def test_cost_is_exact_decimal_where_floats_would_drift(db):
    add_price("m", input="0.1", output="0.2")
    result = cost("m", input_tokens=3, output_tokens=3)
    assert isinstance(result, Decimal)
    assert result == Decimal("0.00000090")  # 0.1 × 3 + 0.2 × 3 = 0.9 → 0.0000009
    assert result.as_tuple().exponent == -8


def test_large_token_counts_stay_exact(db):
    add_price("m", input="999999.999999", output="0")
    assert cost("m", input_tokens=2_000_000_000) == Decimal("1999999999.99800000")


def test_more_cached_tokens_than_input_tokens_are_counted_as_input_tokens(db):
    add_price("m", input="2.00", output="8.00", cached="0.50")
    # cached capped at 100: 100 × 0.50 / 1e6
    assert cost("m", input_tokens=100, cached_tokens=150) == Decimal("0.00005000")


@pytest.mark.parametrize("bad", [-1, 1.5, "10", None, True])
def test_a_token_count_that_is_not_a_whole_number_of_0_or_more_is_refused(db, bad):
    add_price("m")
    with pytest.raises(ValueError, match="input_tokens must be a whole number"):
        cost("m", input_tokens=bad)


def test_cost_at_price_of_no_price_is_none():
    assert cost_at_price(None, input_tokens=10, cached_tokens=0, output_tokens=10) is None


# Unpriced.


def test_an_unpriced_model_costs_none_never_zero(db):
    add_price("priced")
    assert price_for(PROVIDER, "unknown") is None
    assert cost("unknown", input_tokens=1000, output_tokens=1000) is None


def test_a_price_of_another_provider_is_not_used(db):
    add_price("shared-name", provider="otherprov")
    assert cost("shared-name", input_tokens=1000) is None


# Which price is in force.


def test_an_exact_name_beats_a_prefix_pattern_even_a_newer_one(db):
    exact = add_price("m-mini-2024", input="1")
    add_price("m-mini*", input="2", effective_from=LAST_YEAR + timedelta(days=30))
    assert price_for(PROVIDER, "m-mini-2024") == exact


def test_an_exact_name_beats_the_pattern_that_stops_at_it(db):
    exact = add_price("m-mini", input="1")
    add_price("m-mini*", input="2")
    assert price_for(PROVIDER, "m-mini") == exact


def test_the_longest_prefix_pattern_wins_even_over_a_newer_shorter_one(db):
    short = add_price("m*", input="1", effective_from=LAST_YEAR + timedelta(days=30))
    long = add_price("m-mini*", input="2")
    assert price_for(PROVIDER, "m-mini-2024-07-18") == long
    assert price_for(PROVIDER, "m-max") == short
    assert price_for(PROVIDER, "other") is None


def test_a_pattern_matches_the_name_it_stops_at(db):
    pattern = add_price("m-mini*")
    assert price_for(PROVIDER, "m-mini") == pattern


def test_pattern_characters_are_literal(db):
    add_price("m_x*")
    add_price("m%*")
    assert price_for(PROVIDER, "m-x-1") is None
    assert price_for(PROVIDER, "mabc") is None
    assert price_for(PROVIDER, "m_x-1").model == "m_x*"


def test_the_latest_effective_price_wins(db):
    add_price("m", input="10", effective_from=LAST_YEAR)
    newer = add_price("m", input="2", effective_from=LAST_YEAR + timedelta(days=60))
    assert price_for(PROVIDER, "m") == newer


def test_a_price_effective_in_the_future_is_not_in_force_yet_the_older_one_is(db):
    older = add_price("m", input="10")
    future = add_price("m", input="2", effective_from=timezone.now() + timedelta(days=7))
    assert price_for(PROVIDER, "m") == older
    assert cost("m", input_tokens=1_000_000) == Decimal("10.00000000")
    assert price_for(PROVIDER, "m", at=timezone.now() + timedelta(days=8)) == future


def test_a_model_with_only_a_future_price_is_unpriced_until_then(db):
    add_price("m", effective_from=timezone.now() + timedelta(days=1))
    assert cost("m", input_tokens=10) is None


def test_the_price_at_a_past_moment_is_the_one_then_in_force(db):
    launch = add_price("m", input="10", effective_from=LAST_YEAR)
    add_price("m", input="2", effective_from=LAST_YEAR + timedelta(days=60))
    assert price_for(PROVIDER, "m", at=LAST_YEAR + timedelta(days=1)) == launch
    assert price_for(PROVIDER, "m", at=LAST_YEAR - timedelta(days=1)) is None


def test_price_for_is_one_query(db, django_assert_num_queries):
    add_price("m*")
    add_price("m-mini*")
    add_price("m-mini-2024")
    with django_assert_num_queries(1):
        price_for(PROVIDER, "m-mini-2024-07-18")
    with django_assert_num_queries(1):
        cost("m-mini-2024", input_tokens=1)
