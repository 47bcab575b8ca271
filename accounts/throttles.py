"""The account rate limits (SPEC §11), in one place so the README and the code say the same thing.

Addresses are keyed by `normalize_email`, so " Ann@X.test" and "ann@x.test" share one counter.
"""

from __future__ import annotations

from django.http import HttpRequest

from accounts.ratelimit import Limit

MINUTE = 60
HOUR = 60 * MINUTE

# Failed logins only (a success takes its attempt back and clears the address's count).
LOGIN_PER_EMAIL = Limit("login-email", limit=10, window=15 * MINUTE)
LOGIN_PER_IP = Limit("login-ip", limit=50, window=15 * MINUTE)

# Wrong passwords on the sudo confirmation, per account and per IP.
SUDO_PER_USER = Limit("sudo-user", limit=10, window=15 * MINUTE)
SUDO_PER_IP = Limit("sudo-ip", limit=50, window=15 * MINUTE)

# Every reset request counts, whether or not the address has an account (no existence leak).
RESET_PER_EMAIL = Limit("reset-email", limit=5, window=HOUR)
RESET_PER_IP = Limit("reset-ip", limit=20, window=HOUR)

SIGNUP_PER_IP = Limit("signup-ip", limit=20, window=HOUR)

# Emails that sign-up sends to an address (the verification link, or the "you already have an
# account" notice), resends included: one counter for both, so neither can tell the other apart.
SIGNUP_EMAIL_PER_MINUTE = Limit("signup-email-minute", limit=1, window=MINUTE)
SIGNUP_EMAIL_PER_HOUR = Limit("signup-email-hour", limit=5, window=HOUR)


def client_ip(request: HttpRequest) -> str:
    """The address the request came from, as the audit log records it."""
    return request.META.get("REMOTE_ADDR") or ""
