"""Template helpers of the run and finding pages: `{{ value|pretty }}`, `{{ status|status_class }}`."""

from __future__ import annotations

import json
from typing import Any

from django import template

register = template.Library()

STATUS_CLASSES = {
    "passed": "badge-success",
    "fixed": "badge-success",
    "failed": "badge-danger",
    "error": "badge-danger",
    "critical": "badge-danger",
    "high": "badge-danger",
    "blocked": "badge-warn",
    "medium": "badge-warn",
    "open": "badge-warn",
    "running": "badge-role",
    "low": "badge-role",
}


@register.filter
def pretty(value: Any) -> str:
    """JSON indented for reading; a text body that is JSON is indented too, other text left as it is."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False)


@register.filter
def status_class(value: str) -> str:
    """The badge class of a run, step or finding status, or of a severity."""
    return STATUS_CLASSES.get(value, "")
