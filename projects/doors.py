"""The doors of projects/: every change to organizations, projects, members, invitations and API keys,
shared by the pages and the API (docs/ARCHITECTURE.md). Memories have theirs in qa/doors.py.

Each door takes the `Actor` first and the project (or organization) it acts on second; any other object
it is handed is checked to belong there. It validates, asks `actor.require(...)` (the one role function),
checks sudo mode, writes inside the transaction `@door` opens and records the audit event.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from projects import audit
from projects.access import Actor
from projects.models import (
    ApiKey,
    Invitation,
    Organization,
    OrgMembership,
    Project,
    ProjectMember,
    validate_project_slug,
)
from projects.roles import KEY_SCOPE_ROLES, Role, at_least
from qodex import emails
from qodex.doors import Conflict, Forbidden, Invalid, NotFound, door

NAME_MAX = 100
LAST_OWNER = "A project needs at least one owner. Make someone else owner first."


def clean_name(value: str, *, what: str = "project") -> str:
    name = (value or "").strip()
    if not name:
        raise Invalid.field("name", f"Give the {what} a name.")
    if len(name) > NAME_MAX:
        raise Invalid.field("name", f"Keep the name under {NAME_MAX} characters.")
    return name


# --- organizations and projects ------------------------------------------------------------------------


@door("organization.created", scope=None)
def create_workspace(actor: Actor, name: str | None = None) -> Project:
    """An organization owned by the signed-in person, with its default project (named `name` if given).

    Anyone with a verified account may make their own organization (sign-up does, and "New project" for
    someone who administers none)."""
    user = actor.user
    if user is None:
        raise Forbidden("Only a signed-in person can create an organization.")
    project_name = clean_name(name) if name is not None else None
    org = Organization.objects.create(name=f"{user.display_name}’s organization")
    OrgMembership.objects.create(user=user, organization=org, role=OrgMembership.OrgRole.OWNER)
    project = org.default_project
    ProjectMember.objects.create(user=user, project=project, role=Role.OWNER)
    if project_name:
        project.rename(project_name)
    audit.record(actor, "organization.created", organization=org, project=project, target=org.name)
    return project


@door("project.created", scope="org:admin")
def create_project(actor: Actor, organization: Organization, name: str, *, slug: str = "") -> Project:
    """A project in `organization`, owned by its creator: the person, or whoever created the key while
    they are still in the organization (else nobody: the org's owners and admins administer it)."""
    name = clean_name(name)
    if slug:
        try:
            validate_project_slug(slug)
        except ValidationError as error:
            raise Invalid.field("slug", " ".join(error.messages)) from None
        if Project.objects.filter(slug=slug).exists():
            raise Conflict(f"The slug “{slug}” is taken; pick another one.", code="slug_taken")
    try:
        with transaction.atomic():
            project = Project.objects.create(organization=organization, name=name, slug=slug)
    except IntegrityError:
        raise Conflict("That slug was taken a moment ago; pick another one.", code="slug_taken") from None
    owner = actor.person
    # A key's creator owns what the key creates only while still in the organization.
    if actor.api_key is not None and owner is not None:
        owner = owner if organization.memberships.filter(user=owner).exists() else None
    if owner is not None:
        ProjectMember.objects.create(user=owner, project=project, role=Role.OWNER)
    audit.record(actor, "project.created", project=project, target=project.name)
    return project


@door("project.renamed", scope="project:admin")
def rename_project(actor: Actor, project: Project, name: str) -> Project:
    name = clean_name(name)
    if name != project.name:
        old = project.name
        project.rename(name)
        audit.record(
            actor, "project.renamed", project=project, target=name, details={"from": old, "to": name}
        )
    return project


@door("project.default_changed", scope="project:admin")
def make_default(actor: Actor, project: Project) -> Project:
    """Make `project` its organization's default (the flag moves; there is always exactly one)."""
    if not project.is_default:
        project.set_default()
        audit.record(actor, "project.default_changed", project=project, target=project.name)
    return project


@door("project.deleted", scope="project:owner", sudo=True)
def delete_project(actor: Actor, project: Project) -> None:
    """Soft delete: the slug stays reserved, memories become org-wide, keys locked to it stop working."""
    if project.is_default:
        raise Conflict(
            "This is the organization’s default project. Make another project the default first.",
            code="default_project",
        )
    project.soft_delete()
    audit.record(actor, "project.deleted", project=project, target=project.name)


# --- members and invitations -----------------------------------------------------------------------------


def invitation_link(actor: Actor, token: str) -> str:
    return f"{actor.site}{reverse('invitation', args=[token])}"


def _send_invitation(actor: Actor, invitation: Invitation, token: str) -> None:
    context = {
        "invitation": invitation,
        "project": invitation.project,
        "inviter": invitation.invited_by,
        "link": invitation_link(actor, token),
    }
    emails.send("invitation", invitation.email, context)


def _require_owner_for(actor: Actor, project: Project, *roles: str) -> None:
    """Granting, changing or removing an owner is for owners, in sudo mode (SPEC §3, §11)."""
    if Role.OWNER in roles:
        if not actor.can(project, "project:owner"):
            raise Forbidden("Only an owner can grant, change or remove the owner role.")
        actor.require_sudo()


@door("member.invited", scope="project:admin")
def invite_member(actor: Actor, project: Project, email: str, role: str = Role.MEMBER) -> Invitation:
    """Invite `email` with `role` (or refresh their pending invitation) and email the link."""
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise Invalid.field("email", "Enter a valid email address.") from None
    if role not in Role.values:
        raise Invalid.field("role", f"Pick one of the roles: {', '.join(Role.values)}.")
    _require_owner_for(actor, project, role)
    if project.members.filter(user__email__iexact=email).exists():
        raise Conflict(f"{email} is already a member of this project.", code="already_member")
    invitation, token = project.invite(email, role, actor.person)
    audit.record(actor, "member.invited", project=project, target=email, details={"role": role})
    _send_invitation(actor, invitation, token)  # last: nothing after it can fail and roll back
    return invitation


def _pending_invitation(project: Project, invitation: Invitation) -> Invitation:
    if invitation.project_id != project.pk or invitation.status not in ("pending", "expired"):
        raise NotFound("No pending invitation with this id in this project.", code="invitation_not_found")
    return invitation


@door("invitation.resent", scope="project:admin")
def resend_invitation(actor: Actor, project: Project, invitation: Invitation) -> Invitation:
    """A fresh link and 7 more days; the old link then says it was replaced."""
    _pending_invitation(project, invitation)
    _require_owner_for(actor, project, invitation.role)
    token = invitation.refresh_token()
    audit.record(actor, "invitation.resent", project=project, target=invitation.email)
    _send_invitation(actor, invitation, token)
    return invitation


@door("invitation.revoked", scope="project:admin")
def revoke_invitation(actor: Actor, project: Project, invitation: Invitation) -> None:
    _pending_invitation(project, invitation)
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit.record(actor, "invitation.revoked", project=project, target=invitation.email)


@door("invitation.accepted", scope=None)
def accept_invitation(actor: Actor, invitation: Invitation) -> ProjectMember:
    """Join with the invited role; whoever holds the link may accept it (README: invitations)."""
    user = actor.user
    if user is None or not user.is_verified:
        raise Forbidden("Sign in with a verified email address to accept an invitation.")
    if invitation.project.is_deleted:
        raise NotFound("This invitation’s project was deleted.", code="invitation_not_found")
    try:
        member = invitation.accept(user)
    except ValidationError as error:
        raise Conflict(" ".join(error.messages), code="invitation_not_pending") from None
    audit.record(
        actor,
        "invitation.accepted",
        project=invitation.project,
        target=user.email,
        details={"role": member.role, "invited_email": invitation.email},
    )
    return member


def _member_of(project: Project, member: ProjectMember) -> ProjectMember:
    if member.project_id != project.pk:
        raise NotFound("No member with this id in this project.", code="member_not_found")
    return member


def _keep_an_owner(project: Project, member: ProjectMember, new_role: str | None) -> None:
    # Lock the owners so two demotions or removals at once cannot leave the project without one.
    list(project.owners().select_for_update())
    if member.is_last_owner() and new_role != Role.OWNER:
        raise Conflict(LAST_OWNER, code="last_owner")


@door("member.role_changed", scope="project:admin")
def change_member_role(actor: Actor, project: Project, member: ProjectMember, role: str) -> ProjectMember:
    _member_of(project, member)
    if role not in Role.values:
        raise Invalid.field("role", "Pick one of the listed roles.")
    _require_owner_for(actor, project, member.role, role)
    if role == member.role:
        return member
    _keep_an_owner(project, member, role)
    old, member.role = member.role, role
    member.save(update_fields=["role"])
    audit.record(
        actor,
        "member.role_changed",
        project=project,
        target=member.user.email,
        details={"from": old, "to": role},
    )
    return member


@door("member.removed", scope="project:admin")
def remove_member(actor: Actor, project: Project, member: ProjectMember) -> None:
    _member_of(project, member)
    _require_owner_for(actor, project, member.role)
    _keep_an_owner(project, member, None)
    member.delete()
    audit.record(
        actor, "member.removed", project=project, target=member.user.email, details={"role": member.role}
    )


# --- API keys --------------------------------------------------------------------------------------------


@door("api_key.created", scope=None)
def create_api_key(
    actor: Actor,
    organization: Organization,
    *,
    name: str,
    scope: str = ApiKey.Scope.READ,
    project: Project | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Mint a key (org-wide, or locked to `project`); returns it with the raw key, shown once.

    Nobody mints a key with more authority than they have (SPEC §3): a key acts with the role of its
    scope, which must not exceed the creator's role where the key reaches; `admin` keys are org-wide and
    made only by people who own the organization.
    """
    if project is not None:
        if project.organization_id != organization.pk:
            raise NotFound("No such project in this organization.", code="project_not_found")
        actor.require(project, "project:admin")
    else:
        actor.require(organization, "org:admin")
    actor.require_sudo()
    name = clean_name(name, what="key")
    if scope not in ApiKey.Scope.values:
        raise Invalid.field("scope", f"Pick one of the scopes: {', '.join(ApiKey.Scope.values)}.")
    if scope == ApiKey.Scope.ADMIN:
        if project is not None:
            raise Invalid.field("scope", "Admin keys are org-wide: leave the project out.")
        if actor.user is None or not actor.can(organization, "org:owner"):
            raise Forbidden("Only an owner of the organization can create an admin key.")
    where = project or organization
    if not at_least(actor.role_on(where), KEY_SCOPE_ROLES[scope]):
        raise Forbidden(f"A {scope} key would have more authority than you have here.")
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            raise Invalid.field("expires_at", "Give the expiry a time zone, such as 2027-01-31T00:00:00Z.")
        if expires_at <= timezone.now():
            raise Invalid.field("expires_at", "Pick an expiry date in the future.")
    key, raw = ApiKey.issue(
        organization=organization,
        project=project,
        name=name,
        scope=scope,
        expires_at=expires_at,
        created_by=actor.person,
    )
    audit.record(
        actor,
        "api_key.created",
        project=project,
        organization=organization,
        target=f"{key.name} ({key.prefix}…)",
        details={"scope": key.scope, "prefix": key.prefix, "project": project.public_id if project else None},
    )
    return key, raw


@door("api_key.revoked", scope=None)
def revoke_api_key(actor: Actor, organization: Organization, key: ApiKey) -> None:
    """Revoke a key: admins of its project, or of the organization for org-wide keys."""
    if key.organization_id != organization.pk:
        raise NotFound("No API key with this id in this organization.", code="api_key_not_found")
    if key.project is not None and not key.project.is_deleted:
        actor.require(key.project, "project:admin")
    else:
        actor.require(organization, "org:admin")
    if key.revoke():
        audit.record(
            actor,
            "api_key.revoked",
            project=key.project,
            organization=organization,
            target=f"{key.name} ({key.prefix}…)",
        )
