"""Figures as the usage pages write them: `{{ cost|money }}`, `{{ calls|number }}`, `{{ p95|ms }}`."""

from __future__ import annotations

from decimal import Decimal

from django import template

from usage.chart import money as money_text

register = template.Library()


@register.filter
def money(value: Decimal | None) -> str:
    return "—" if value is None else money_text(Decimal(value))


@register.filter
def number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


@register.filter
def ms(value: int | None) -> str:
    """Milliseconds, or seconds from 10 s on; a dash without calls."""
    if value is None:
        return "—"
    return f"{value:,} ms" if value < 10_000 else f"{value / 1000:.1f} s"
