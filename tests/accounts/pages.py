"""Comparing what two visitors see, minus the per-response CSRF masking."""

import re

CSRF = re.compile(r'(csrfmiddlewaretoken" value="|X-CSRFToken": ")[^"]+')


def seen(response, *, replace: tuple[str, str] = ("", "")) -> str:
    """The page as its visitor sees it, with CSRF tokens blanked and `replace` applied."""
    return CSRF.sub(r"\1…", response.content.decode()).replace(*replace)
