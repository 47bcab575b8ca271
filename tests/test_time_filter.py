from datetime import timedelta

from django.template import Context, Template
from django.utils import timezone


def render(value) -> str:
    return Template("{{ value|ago }}").render(Context({"value": value}))


def test_ago_says_just_now_under_a_minute_and_counts_after():
    assert render(timezone.now() - timedelta(seconds=5)) == "just now"
    assert render(timezone.now() - timedelta(hours=3, minutes=1)) == "3\xa0hours ago"
    assert render(None) == ""
