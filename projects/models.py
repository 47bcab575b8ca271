"""Organizations (tenants), projects, members, roles, invitations, API keys, the audit log (SPEC §2, §3)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import hash_token
from projects.roles import ORG_ROLE_GRANTS, Role, at_least
from qodex.prepared import prepared

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$")
slug_validator = RegexValidator(
    SLUG_RE,
    "Use 2–48 lowercase letters, digits and hyphens, starting and ending with a letter or digit.",
)
# Slugs that would read as product pages rather than a project.
RESERVED_SLUGS = frozenset({"new", "admin", "api", "settings", "static", "accounts", "projects", "p"})


def validate_project_slug(value: str) -> None:
    slug_validator(value)
    if len(value) < 2:
        raise ValidationError("A project slug needs at least 2 characters.")
    if value in RESERVED_SLUGS:
        raise ValidationError(f"“{value}” is reserved; pick another slug.")


def new_org_id() -> str:
    return f"org_{secrets.token_hex(8)}"


def new_project_id() -> str:
    return f"proj_{secrets.token_hex(8)}"


def unique_slug(model: type[models.Model], text: str, *, fallback: str) -> str:
    """A free slug derived from `text`: `acme`, then `acme-2`, `acme-3`… Deleted rows keep theirs."""
    base = slugify(text)[:40].strip("-") or fallback
    if len(base) < 2 or base in RESERVED_SLUGS:
        base = f"{base}-{fallback}".strip("-")[:40]
    taken = set(model._base_manager.filter(slug__startswith=base).values_list("slug", flat=True))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


class Organization(models.Model):
    public_id = models.CharField(max_length=20, unique=True, default=new_org_id, editable=False)
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=48, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        creating = self._state.adding
        if not self.slug:
            self.slug = unique_slug(Organization, self.name, fallback="org")
        with transaction.atomic():
            super().save(*args, **kwargs)
            if creating:
                # An organization has its default project from the moment it exists (SPEC §2).
                Project.objects.create(
                    organization=self,
                    name="Default",
                    slug=unique_slug(Project, self.slug, fallback="project"),
                    is_default=True,
                )

    @property
    def default_project(self) -> Project:
        return self.projects.get(is_default=True)


class OrgMembership(models.Model):
    class OrgRole(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="org_memberships"
    )
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=OrgRole.choices, default=OrgRole.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="one_org_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


# The org roles that reach every project of the organization (projects.roles.ORG_ROLE_GRANTS), for the
# queries that list reachable projects.
ORG_ADMIN_ROLES = tuple(ORG_ROLE_GRANTS)


class ProjectQuerySet(models.QuerySet):
    def alive(self) -> ProjectQuerySet:
        return self.filter(deleted_at__isnull=True)

    def for_user(self, user) -> ProjectQuerySet:
        """Live projects `user` may open: as a member, or as an owner/admin of the organization.

        Two id subqueries instead of OR-ed joins: no row multiplication, so no DISTINCT is needed.
        """
        if not user.is_authenticated:
            return self.none()
        member_of = ProjectMember.objects.filter(user=user).values("project_id")
        administered = OrgMembership.objects.filter(user=user, role__in=ORG_ADMIN_ROLES).values(
            "organization_id"
        )
        return self.alive().filter(Q(pk__in=member_of) | Q(organization_id__in=administered))


class Project(models.Model):
    public_id = models.CharField(
        max_length=21, unique=True, default=new_project_id, editable=False, db_index=True
    )
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="projects")
    name = models.CharField(max_length=100)
    slug = models.CharField(max_length=48, unique=True, validators=[validate_project_slug])
    is_default = models.BooleanField(default=False)
    # Maintained by qa.models.Memory with F() updates; callers never write it.
    memory_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    # LLM settings (SPEC §7): who pays for this project's LLM calls. `codex_pool` and the cap overrides
    # are set by staff only; null caps mean the settings' defaults (QODEX_CAP_5H_USD, QODEX_CAP_WEEKLY_USD).
    class LlmMode(models.TextChoices):
        PLATFORM = "platform", "Platform key (capped)"
        BYOK = "byok", "Your own key"
        CODEX_POOL = "codex_pool", "Codex pool"

    llm_mode = models.CharField(max_length=20, choices=LlmMode.choices, default=LlmMode.PLATFORM)
    llm_provider = models.CharField(
        max_length=20, blank=True, help_text="Which of the project's own credentials BYOK mode uses."
    )
    cap_5h_usd = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    cap_weekly_usd = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        constraints = [
            # Exactly one default per organization: at most one here, at least one by Organization.save
            # and by set_default() moving the flag inside one transaction.
            models.UniqueConstraint(
                fields=["organization"], condition=Q(is_default=True), name="one_default_project_per_org"
            ),
            models.CheckConstraint(
                condition=Q(is_default=False) | Q(deleted_at__isnull=True), name="default_project_not_deleted"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self.slug:
            self.slug = unique_slug(Project, self.name, fallback="project")
        super().save(*args, **kwargs)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def owners(self) -> models.QuerySet[ProjectMember]:
        return self.members.filter(role=Role.OWNER)

    # Data changes only: permission, sudo and the audit event are the doors' (projects/doors.py).

    def rename(self, name: str) -> None:
        self.name = name
        self.save(update_fields=["name"])

    def set_default(self) -> None:
        """Move the organization's default flag here (the caller's transaction keeps it exactly one)."""
        Project.objects.filter(organization=self.organization, is_default=True).exclude(pk=self.pk).update(
            is_default=False
        )
        self.is_default = True
        self.save(update_fields=["is_default"])

    @transaction.atomic
    def soft_delete(self) -> None:
        from qa.models import Memory  # qa.models imports this module

        if self.is_default:
            raise ValidationError("The default project can’t be deleted while it is the default.")
        self.deleted_at = timezone.now()
        # The project row first, then its memories: the same lock order as Memory.objects.add() and
        # Memory.delete() (qa/models.py), so a concurrent write waits for us (and then sees the project
        # gone).
        self.memory_count = 0
        self.save(update_fields=["deleted_at", "memory_count"])
        # Memories become org-wide (SPEC §2).
        Memory.objects.filter(project=self).update(project=None, updated_at=timezone.now())

    def invite(self, email: str, role: str, invited_by) -> tuple[Invitation, str]:
        """Create (or refresh) the pending invitation for `email`; return it and the token for the link."""
        email = email.strip().lower()
        pending = self.invitations.pending().filter(email__iexact=email).first()
        if pending:
            pending.role = role
            pending.invited_by = invited_by
            token = pending.refresh_token()
            return pending, token
        token = secrets.token_urlsafe(32)
        invitation = Invitation.objects.create(
            project=self,
            email=email,
            role=role,
            invited_by=invited_by,
            token_hash=hash_token(token),
        )
        return invitation, token


class ProjectMember(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_memberships"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(default=timezone.now)
    # The environment this member works against in this project, set by the header switcher (SPEC §6).
    active_environment = models.ForeignKey(
        "environments.Environment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "project_members"
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="one_membership_per_project")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"

    def is_last_owner(self) -> bool:
        return self.role == Role.OWNER and not self.project.owners().exclude(pk=self.pk).exists()


def invitation_expiry():
    return timezone.now() + timedelta(days=settings.QODEX_INVITATION_MAX_AGE_DAYS)


class InvitationQuerySet(models.QuerySet):
    def pending(self) -> InvitationQuerySet:
        """Not accepted and not revoked; may still be expired (the page says so)."""
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True)

    def by_token(self, token: str) -> Invitation | None:
        return (
            self.select_related("project__organization", "invited_by")
            .filter(token_hash=hash_token(token))
            .first()
        )

    def replaced_by_token(self, token: str) -> Invitation | None:
        """The invitation whose earlier link this was, before a resend replaced it."""
        return (
            self.select_related("project__organization")
            .filter(replaced_tokens__token_hash=hash_token(token))
            .first()
        )


class Invitation(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=invitation_expiry)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.email} → {self.project} ({self.role})"

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        return "expired" if self.is_expired else "pending"

    def refresh_token(self) -> str:
        """Resend: a fresh token and a fresh 7-day expiry; the old link stops working and says why."""
        token = secrets.token_urlsafe(32)
        ReplacedInvitationToken.objects.create(invitation=self, token_hash=self.token_hash)
        self.token_hash = hash_token(token)
        self.expires_at = invitation_expiry()
        self.save(update_fields=["token_hash", "expires_at", "role", "invited_by"])
        return token

    @transaction.atomic
    def accept(self, user) -> ProjectMember:
        """Join the project with the invited role; an existing member keeps the higher of the two roles."""
        if self.status != "pending":
            raise ValidationError(f"This invitation is {self.status}.")
        member, created = ProjectMember.objects.get_or_create(
            project=self.project, user=user, defaults={"role": self.role}
        )
        if not created and not at_least(member.role, self.role):
            member.role = self.role
            member.save(update_fields=["role"])
        self.accepted_at = timezone.now()
        self.accepted_by = user
        self.save(update_fields=["accepted_at", "accepted_by"])
        return member


class ReplacedInvitationToken(models.Model):
    """The hash of an invitation link a resend replaced, so that link can say so instead of "not valid"."""

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="replaced_tokens")
    token_hash = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return f"replaced link of {self.invitation}"


API_KEY_PREFIX = "qdx_"
API_KEY_RE = re.compile(r"^qdx_[A-Za-z0-9_-]{40}$")


def hash_api_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def active(self) -> ApiKeyQuerySet:
        """Not revoked (expired keys stay listed so people can see why CI stopped working)."""
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A key for CI and scripts: org-wide, or locked to one project. Only its SHA-256 is stored (SPEC §2)."""

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Write"
        ADMIN = "admin", "Admin"  # org-wide keys only: acts as an owner (SPEC §3)

    # "qdx_" + 8 characters: enough to find the row, too little to guess the rest; shown in lists.
    PREFIX_LENGTH = 12
    LAST_USED_RESOLUTION = timedelta(minutes=1)

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    # Authentication looks keys up by prefix, then compares the hash in constant time.
    prefix = models.CharField(max_length=PREFIX_LENGTH, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        db_table = "project_api_keys"
        constraints = [
            models.CheckConstraint(
                condition=~Q(scope="admin") | Q(project__isnull=True), name="admin_keys_are_org_wide"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(
        cls,
        *,
        organization: Organization,
        name: str,
        scope: str = Scope.READ,
        project: Project | None = None,
        expires_at=None,
        created_by=None,
    ) -> tuple[ApiKey, str]:
        """Create a key and return it with the raw key, which exists only in this return value."""
        if project is not None and project.organization_id != organization.pk:
            raise ValidationError("A project-locked key belongs to its project's organization.")
        raw = API_KEY_PREFIX + secrets.token_urlsafe(30)  # 30 bytes → exactly 40 URL-safe characters
        key = cls.objects.create(
            organization=organization,
            project=project,
            name=name,
            scope=scope,
            prefix=raw[: cls.PREFIX_LENGTH],
            key_hash=hash_api_key(raw),
            expires_at=expires_at,
            created_by=created_by,
        )
        return key, raw

    @classmethod
    def find(cls, raw: str) -> ApiKey | None:
        """The key whose hash matches `raw`, in whatever state (revoked, expired…), or None."""
        if not API_KEY_RE.match(raw or ""):
            return None
        digest = hash_api_key(raw)
        for key in _keys_with_prefix(raw[: cls.PREFIX_LENGTH]):
            if hmac.compare_digest(key.key_hash, digest):
                if key.project_id is not None:
                    key.project.organization = key.organization  # the same row (see issue()): no join
                return key
        return None

    @property
    def is_locked(self) -> bool:
        return self.project_id is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and timezone.now() >= self.expires_at

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.project_id and self.project.is_deleted:
            return "project_deleted"
        return "expired" if self.is_expired else "active"

    def touch(self) -> None:
        """Record a use at most once a minute per key: a write per request would serialize busy CI."""
        now = timezone.now()
        stale = now - self.LAST_USED_RESOLUTION
        if self.last_used_at is not None and self.last_used_at >= stale:
            return
        # The WHERE makes concurrent requests write once between them.
        ApiKey.objects.filter(pk=self.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale)
        ).update(last_used_at=now)
        self.last_used_at = now

    def revoke(self) -> bool:
        """Revoke; False when it already was."""
        if self.revoked_at is not None:
            return False
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
        return True


@prepared
def _keys_with_prefix(prefix: str) -> models.QuerySet[ApiKey]:
    """Every API request runs this lookup, so its SQL is compiled once per process (qodex.prepared, fenced:
    with a plain queryset here the API throughput budget fails, docs/PERFORMANCE.md)."""
    return ApiKey.objects.select_related("organization", "project").filter(prefix=prefix)


class AuditEvent(models.Model):
    """Append-only record of who changed what. Written only through projects.audit.record()."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="audit_events")
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    # Who acted, kept readable after the user or key is gone ("ann@acme.io", "key qdx_ab12…").
    actor_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=254, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The audit page: one project's events, newest first, optionally by action.
            models.Index(fields=["project", "-created_at"], name="audit_project_recent"),
            models.Index(fields=["organization", "-created_at"], name="audit_org_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValidationError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Audit events are append-only.")
