"""Sudo mode (SPEC §11): sensitive actions need the password confirmed within the last 30 minutes."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError

from accounts import ratelimit, throttles

SESSION_KEY = "sudo_confirmed_at"


def confirm(request) -> None:
    request.session[SESSION_KEY] = int(time.time())


def revoke(request) -> None:
    """End sudo mode now (a login that did not involve typing the password)."""
    request.session.pop(SESSION_KEY, None)


def is_active(request) -> bool:
    confirmed_at = request.session.get(SESSION_KEY)
    return bool(confirmed_at) and time.time() - confirmed_at < settings.QODEX_SUDO_MAX_AGE_SECONDS


def check_password(request, password: str) -> None:
    """Check the signed-in user's password for sudo mode; raise ValidationError saying why not.

    Wrong passwords are limited per account and per IP. Once either limit is reached the password is not
    checked at all until the window ends (the error's code is "throttled"); a right password does not
    count and clears the account's failures.
    """
    user, ip = request.user, throttles.client_ip(request)
    wait = ratelimit.attempt((throttles.SUDO_PER_USER, str(user.pk)), (throttles.SUDO_PER_IP, ip))
    if wait:
        raise ValidationError(
            f"Too many wrong passwords. Try again in {ratelimit.wait_text(wait)}.", code="throttled"
        )
    if authenticate(request, email=user.email, password=password) is None:
        raise ValidationError("That password is not right.", code="wrong")
    throttles.SUDO_PER_USER.reset(str(user.pk))
    throttles.SUDO_PER_IP.undo(ip)
