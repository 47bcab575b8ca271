"""Accounts: a custom user that logs in with its email address, and email verification tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


def hash_token(token: str) -> str:
    """Tokens sent by email are stored only as their SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(address: str) -> str:
    """The one spelling of an address for lookups and rate-limit keys: stripped and lowercased.

    It matches the database's `LOWER(email)` (the unique constraint below), so every spelling that
    finds an account also finds its one counter.
    """
    return (address or "").strip().lower()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def by_email(self, address: str) -> models.QuerySet[User]:
        """The account that `address` names, in any case or with stray spaces (at most one row).

        Compared with LOWER(), as the unique constraint is (and served by its index), not with
        `iexact`: PostgreSQL's UPPER() folds look-alikes such as "ſ" into "S", so `iexact` would let
        "ſam@x.test" log in as sam@x.test under another rate-limit key.
        """
        return self.alias(email_lower=Lower("email")).filter(email_lower=normalize_email(address))

    def get_by_natural_key(self, email: str) -> User:
        return self.by_email(email).get()

    def _create_user(self, email: str, password: str | None, **extra) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).strip(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("email_verified_at", timezone.now())
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=150, blank=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            # Case-insensitive uniqueness: Ann@x.io and ann@x.io are the same login.
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def display_name(self) -> str:
        return self.name or self.email.split("@")[0]

    def get_short_name(self) -> str:
        return self.display_name


class EmailVerificationQuerySet(models.QuerySet):
    def recent(self, user: User, since: timedelta) -> EmailVerificationQuerySet:
        return self.filter(user=user, created_at__gte=timezone.now() - since)


class EmailVerification(models.Model):
    """One verification link sent to a user. Single use; valid for 48 hours."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="verifications")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    objects = EmailVerificationQuerySet.as_manager()

    def __str__(self) -> str:
        return f"verification for {self.user_id} ({self.created_at:%Y-%m-%d %H:%M})"

    @classmethod
    def issue(cls, user: User) -> str:
        """Create a verification for `user` and return the plaintext token for the link."""
        token = secrets.token_urlsafe(32)
        cls.objects.create(user=user, token_hash=hash_token(token))
        return token

    @property
    def expires_at(self):
        return self.created_at + timedelta(hours=settings.QODEX_VERIFICATION_MAX_AGE_HOURS)

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at


class RateCounter(models.Model):
    """One identity's attempts in its current window under one limit (accounts.ratelimit). In the
    database, so every gunicorn worker and every host counts on the same rows."""

    key = models.CharField(max_length=80, primary_key=True)  # "<scope>:<sha256 of the identity>"
    count = models.PositiveIntegerField()
    ends_at = models.FloatField()  # Unix time at which the window ends

    class Meta:
        db_table = "rate_limit_counters"
        indexes = [models.Index(fields=["ends_at"], name="rate_limit_counter_ends")]

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"
