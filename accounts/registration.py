"""Sign-up without telling anyone whether an address already has an account (SPEC §4, §11).

Both outcomes of a sign-up end the same way for the visitor: nobody is logged in, the session remembers
the address it signed up with (the "pending sign-up"), and the visitor is sent to "check your email".
A new account gets its verification link; the owner of an existing account gets a notice instead, and
that account is never logged in or changed. The emails share one per-address limit, so neither their
count nor the refusals differ between the two cases.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts import ratelimit, throttles
from accounts.models import EmailVerification, User, normalize_email
from qodex import emails

PENDING_KEY = "signup_pending"


def create_account(email: str, password: str, *, verified: bool = False) -> User | None:
    """Create the account for `email`, or return None when the address already has one.

    The password is hashed before the insert either way, so the two outcomes take about the same time;
    the database's case-insensitive unique constraint decides, which also settles two sign-ups racing
    for one address.
    """
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email, password, email_verified_at=timezone.now() if verified else None
            )
    except IntegrityError:
        if User.objects.by_email(email).exists():
            return None
        raise
    return user


@dataclass(frozen=True)
class Pending:
    """What the session remembers of a sign-up it made: the address, and the account if one was created."""

    email: str
    user_id: int | None

    @property
    def created(self) -> User | None:
        """The account this sign-up created, while it is still waiting for verification."""
        if self.user_id is None:
            return None
        return User.objects.filter(pk=self.user_id, email_verified_at__isnull=True).first()


def remember(request: HttpRequest, email: str, user: User | None) -> None:
    """Keep the sign-up in the (server-side) session: the same key and shape in both cases."""
    request.session[PENDING_KEY] = {"email": email, "user_id": user.pk if user else None}


def pending(request: HttpRequest) -> Pending | None:
    """The sign-up this browser made and has not finished, if any."""
    value = request.session.get(PENDING_KEY)
    if not isinstance(value, dict) or not value.get("email"):
        return None
    return Pending(email=value["email"], user_id=value.get("user_id"))


def forget(request: HttpRequest) -> None:
    """A login (or a verification in this browser) finishes the sign-up."""
    if hasattr(request, "session"):
        request.session.pop(PENDING_KEY, None)


def send_verification(request: HttpRequest, user: User) -> None:
    """Email a fresh single-use verification link to `user`."""
    token = EmailVerification.issue(user)
    link = request.build_absolute_uri(reverse("accounts:verify", args=[token]))
    emails.send("verify_email", user.email, {"user": user, "link": link, "hours": 48})


def send_account_exists(request: HttpRequest, owner: User) -> None:
    """Tell the owner of an address that someone tried to sign up with it, with the ways back in."""
    emails.send(
        "account_exists",
        owner.email,
        {
            "user": owner,
            "login_link": request.build_absolute_uri(reverse("accounts:login")),
            "reset_link": request.build_absolute_uri(reverse("accounts:password_reset")),
        },
    )


def email_address(request: HttpRequest, email: str, created: User | None) -> str | None:
    """Send the sign-up email for `email`: the verification link to `created` (the account this sign-up
    made, still unverified), else the notice to whoever owns the address.

    At most one a minute and five an hour per address, whichever is sent. Returns None once sent,
    else the refusal to show.
    """
    wait = ratelimit.attempt(
        (throttles.SIGNUP_EMAIL_PER_MINUTE, normalize_email(email)),
        (throttles.SIGNUP_EMAIL_PER_HOUR, normalize_email(email)),
    )
    if wait:
        return (
            "We sent an email to this address moments ago. "
            f"You can ask for another in {ratelimit.wait_text(wait)}."
        )
    if created is not None:
        send_verification(request, created)
    else:
        owner = User.objects.by_email(email).first()
        if owner is not None:
            send_account_exists(request, owner)
    return None
