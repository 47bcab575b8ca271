"""Sudo mode (SPEC §11): sensitive actions need the password confirmed within the last 30 minutes."""

from __future__ import annotations

import time

from django.conf import settings

SESSION_KEY = "sudo_confirmed_at"


def confirm(request) -> None:
    request.session[SESSION_KEY] = int(time.time())


def is_active(request) -> bool:
    confirmed_at = request.session.get(SESSION_KEY)
    return bool(confirmed_at) and time.time() - confirmed_at < settings.QODEX_SUDO_MAX_AGE_SECONDS
