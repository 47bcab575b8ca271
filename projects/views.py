"""Project pages. Every `/p/<slug>/` view is wrapped by projects.access.project_view: read its first line."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from accounts import sudo
from projects import doors, invitations
from projects.access import Actor, ProjectAccess, project_view
from projects.forms import (
    ApiKeyCreateForm,
    InviteForm,
    ProjectCreateForm,
    ProjectDeleteForm,
    ProjectRenameForm,
    grantable_roles,
)
from projects.middleware import last_project_id
from projects.models import (
    ORG_ADMIN_ROLES,
    ApiKey,
    AuditEvent,
    Invitation,
    Organization,
    Project,
)
from qa import doors as qa_doors
from qa.models import WebhookSecret
from qodex.doors import Conflict, Invalid, show_on_form


def home(request: HttpRequest) -> HttpResponse:
    """Anonymous: the landing page. Signed in: the last project used, else the first one, else a new one."""
    if not request.user.is_authenticated:
        return render(request, "landing.html")
    reachable = Project.objects.for_user(request.user)
    project = None
    if last := last_project_id(request):
        project = reachable.filter(pk=last).first()
    project = project or reachable.order_by("-is_default", "created_at").first()
    if project is None:
        return redirect("project_new")
    return redirect("projects:overview", slug=project.slug)


@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    """A new project in an organization the user administers; with none, in a new organization of theirs."""
    organizations = Organization.objects.filter(
        memberships__user=request.user, memberships__role__in=ORG_ADMIN_ROLES
    ).order_by("name")
    # "+ New project" in the switcher names the organization the person was looking at.
    asked = request.GET.get("organization", "")
    asked_for = None
    if asked.isdigit():
        reachable = Project.objects.for_user(request.user).values("organization_id")
        asked_for = Organization.objects.filter(pk=int(asked), pk__in=reachable).first()
    chosen = asked_for if asked_for in organizations else organizations.first()
    form = ProjectCreateForm(
        organizations, request.POST or None, initial={"organization": getattr(chosen, "pk", None)}
    )
    if request.method == "POST" and form.is_valid():
        actor = Actor.of(request)
        organization = form.cleaned_data["organization"] or organizations.first()
        try:
            if organization is None:
                project = doors.create_workspace(actor, form.cleaned_data["name"])
            else:
                project = doors.create_project(actor, organization, form.cleaned_data["name"])
        except Invalid as refusal:
            show_on_form(form, refusal)
        else:
            messages.success(request, f"Created {project.name} in {project.organization.name}.")
            return redirect("projects:overview", slug=project.slug)
    refused_org = asked_for if asked_for is not None and asked_for not in organizations else None
    context = {"form": form, "organizations": organizations, "chosen": chosen, "refused_org": refused_org}
    return render(request, "projects/new.html", context, status=400 if request.method == "POST" else 200)


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    invitation = Invitation.objects.by_token(token)
    if invitation is None:
        replaced = Invitation.objects.replaced_by_token(token)
        if replaced is not None and not replaced.project.is_deleted:
            return render(request, "projects/invitation.html", {"replaced": replaced}, status=410)
    if invitation is None or invitation.project.is_deleted:
        return render(request, "projects/invitation.html", {"invitation": None}, status=404)
    if invitation.status != "pending":
        return render(request, "projects/invitation.html", {"invitation": invitation}, status=410)
    invitations.remember(request, token)
    user = request.user
    if request.method == "POST" and user.is_authenticated and user.is_verified:
        project = invitations.accept(request, invitation, user)
        messages.success(request, f"You joined {project.name}.")
        return redirect("projects:overview", slug=project.slug)
    return render(request, "projects/invitation.html", {"invitation": invitation})


# --- /p/<slug>/ -------------------------------------------------------------------------------------------


@project_view()
def overview(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    # The member count and what "Get started" checks, in one query (the environments come with the switcher).
    facts = (
        Project.objects.filter(pk=project.pk)
        .annotate(
            member_count=Count("members"),
            invitation_pending=Exists(Invitation.objects.pending().filter(project=OuterRef("pk"))),
            api_key_exists=Exists(ApiKey.objects.active().filter(project=OuterRef("pk"))),
        )
        .values("member_count", "invitation_pending", "api_key_exists")
        .get()
    )
    context = {
        **facts,
        "team_invited": facts["member_count"] > 1 or facts["invitation_pending"],
        "recent_events": AuditEvent.objects.filter(project=project).order_by("-created_at")[:5]
        if access.can("project:admin")
        else [],
    }
    return render(request, "projects/overview.html", context)


@project_view(write="project:admin")
def settings(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    needs_password = not sudo.is_active(request)
    rename_form = ProjectRenameForm(initial={"name": project.name})
    if not access.is_admin:
        rename_form.fields["name"].disabled = True
    delete_form = ProjectDeleteForm(project, request.user, needs_password)
    if request.method == "POST":
        actor = Actor.of(request)
        action = request.POST.get("action")
        if action == "rename":
            rename_form = ProjectRenameForm(request.POST)
            if rename_form.is_valid():
                doors.rename_project(actor, project, rename_form.cleaned_data["name"])
                messages.success(request, "Project renamed.")
                return redirect("projects:settings", slug=project.slug)
        elif action == "make_default":
            doors.make_default(actor, project)
            messages.success(
                request, f"{project.name} is now the default project of {project.organization.name}."
            )
            return redirect("projects:settings", slug=project.slug)
        elif action == "delete":
            actor.require(project, "project:owner")
            delete_form = ProjectDeleteForm(
                project, request.user, needs_password, request.POST, request=request
            )
            if delete_form.is_valid():
                if needs_password:  # the form just checked the password: that is a confirmation
                    sudo.confirm(request)
                    actor.sudo = True
                try:
                    doors.delete_project(actor, project)
                except Conflict as refusal:
                    delete_form.add_error(None, refusal.message)
                else:
                    messages.success(request, f"Deleted {project.name}.")
                    return redirect("home")
        else:
            messages.error(request, "Unknown action.")
    return render(
        request,
        "projects/settings.html",
        {"rename_form": rename_form, "delete_form": delete_form},
        status=400 if request.method == "POST" else 200,
    )


def posted_id(request: HttpRequest, name: str) -> int:
    """A posted primary key; anything that is not one is a 404, never a 500."""
    value = request.POST.get(name, "")
    if not value.isdigit():
        raise Http404(f"No such {name.removesuffix('_id')}.")
    return int(value)


@project_view(write="project:admin")
def members(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    invite_form = InviteForm(project, access.role)
    if request.method == "POST":
        actor = Actor.of(request)
        action = request.POST.get("action")
        if action == "invite":
            invite_form = InviteForm(project, access.role, request.POST)
            if invite_form.is_valid():
                try:
                    invitation = doors.invite_member(
                        actor, project, invite_form.cleaned_data["email"], invite_form.cleaned_data["role"]
                    )
                except (Invalid, Conflict) as refusal:
                    show_on_form(invite_form, refusal, field="email")
                else:
                    messages.success(request, f"Invitation sent to {invitation.email}.")
                    return redirect("projects:members", slug=project.slug)
        elif action in ("change_role", "remove"):
            member = get_object_or_404(
                project.members.select_related("user"), pk=posted_id(request, "member_id")
            )
            if action == "remove":
                doors.remove_member(actor, project, member)
                messages.success(request, f"Removed {member.user.email}.")
            else:
                before = member.role
                doors.change_member_role(actor, project, member, request.POST.get("role", ""))
                if member.role != before:
                    messages.success(
                        request, f"{member.user.email} is now {member.get_role_display().lower()}."
                    )
            return redirect("projects:members", slug=project.slug)
        elif action in ("resend", "revoke"):
            invitation = get_object_or_404(
                project.invitations.pending(), pk=posted_id(request, "invitation_id")
            )
            if action == "resend":
                doors.resend_invitation(actor, project, invitation)
                messages.success(request, f"Sent a fresh invitation to {invitation.email}.")
            else:
                doors.revoke_invitation(actor, project, invitation)
                messages.success(request, f"Revoked the invitation for {invitation.email}.")
            return redirect("projects:members", slug=project.slug)
        else:
            messages.error(request, "Unknown action.")
    context = {
        "members": project.members.select_related("user").order_by("joined_at"),
        "invitations": project.invitations.pending().select_related("invited_by").order_by("-created_at"),
        "invite_form": invite_form,
        "grantable_roles": grantable_roles(access.role),
    }
    return render(request, "projects/members.html", context, status=400 if request.method == "POST" else 200)


NEW_KEY_SESSION = "new_api_key"


def key_form_post(request: HttpRequest, organization: Organization, form, *, project=None) -> str | None:
    """Create a key from a posted form through the door; the raw key waits in the session for the page
    the browser is redirected to (post/redirect/get: a refresh never makes a second key)."""
    if not form.is_valid():
        return None
    days = form.cleaned_data["expires_in"]
    try:
        key, raw = doors.create_api_key(
            Actor.of(request),
            organization,
            project=project,
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
            expires_at=timezone.now() + timedelta(days=int(days)) if days else None,
        )
    except Invalid as refusal:
        show_on_form(form, refusal)
        return None
    request.session[NEW_KEY_SESSION] = raw
    return raw


def shown_once(request: HttpRequest, response_context: dict) -> bool:
    """Move a just-created raw key from the session into the page: it is shown exactly once."""
    raw = request.session.pop(NEW_KEY_SESSION, None)
    response_context["new_key"] = raw
    return raw is not None


# Everyone reads every project page (SPEC §3; the list shows prefixes only); admins manage keys.
@project_view(write="project:admin")
def api_keys(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    """Project-locked keys for CI: created here (shown once), listed by prefix, revoked."""
    form = ApiKeyCreateForm()
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "create":
            form = ApiKeyCreateForm(request.POST)
            if key_form_post(request, project.organization, form, project=project):
                return redirect("projects:api_keys", slug=project.slug)
        elif action == "revoke":
            key = get_object_or_404(
                ApiKey.objects.active().filter(project=project), pk=posted_id(request, "key_id")
            )
            doors.revoke_api_key(Actor.of(request), project.organization, key)
            messages.success(request, f"Revoked {key.name}. Requests with it now get 401.")
            return redirect("projects:api_keys", slug=project.slug)
        elif action == "rotate_webhook_secret":
            qa_doors.rotate_webhook_secret(Actor.of(request), project)
            messages.success(request, "New webhook signing secret: update your receivers.")
            return redirect(reverse("projects:api_keys", args=[project.slug]) + "#webhooks")
        else:
            messages.error(request, "Unknown action.")
    context = {
        "form": form,
        "keys": ApiKey.objects.active().filter(project=project).select_related("created_by").order_by("-pk"),
        "api_url": request.build_absolute_uri("/api/v1/project"),
        "sudo_active": sudo.is_active(request),
        "org_keys": Actor.of(request).can(project.organization, "org:read"),
        # The webhook signing secret: admins in sudo mode read it (receivers need it to verify).
        "webhook_secret": (
            WebhookSecret.for_project(project).secret if access.is_admin and sudo.is_active(request) else ""
        ),
        "trigger_url": request.build_absolute_uri(f"/api/v1/p/{project.slug}/webhooks/trigger"),
    }
    fresh = shown_once(request, context)
    response = render(
        request, "projects/api_keys.html", context, status=400 if request.method == "POST" else 200
    )
    if fresh:
        response["Cache-Control"] = "no-store"  # the one page that shows the key: never cached
    return response


@login_required
def org_api_keys(request: HttpRequest, org_slug: str) -> HttpResponse:
    """Org-wide keys (for `/api/v1/org/*` and every project): owners and admins of the organization.

    Anyone else gets the 404 of an organization that doesn't exist. Admins make read and write keys;
    owners also admin keys (SPEC §3).
    """
    actor = Actor.of(request)
    organization = Organization.objects.filter(slug=org_slug).first()
    if organization is None or not actor.can(organization, "org:read"):
        raise Http404("No such organization.")
    scopes = [ApiKey.Scope.READ, ApiKey.Scope.WRITE]
    if actor.can(organization, "org:owner"):
        scopes.append(ApiKey.Scope.ADMIN)
    form = ApiKeyCreateForm(scopes=scopes)
    here = reverse("org_api_keys", args=[organization.slug])
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "create":
            form = ApiKeyCreateForm(request.POST, scopes=scopes)
            if key_form_post(request, organization, form):
                return redirect(here)
        elif action == "revoke":
            key = get_object_or_404(
                ApiKey.objects.active().filter(organization=organization, project=None),
                pk=posted_id(request, "key_id"),
            )
            doors.revoke_api_key(actor, organization, key)
            messages.success(request, f"Revoked {key.name}. Requests with it now get 401.")
            return redirect(here)
        else:
            messages.error(request, "Unknown action.")
    context = {
        "organization": organization,
        "form": form,
        "keys": ApiKey.objects.active()
        .filter(organization=organization, project=None)
        .select_related("created_by")
        .order_by("-pk"),
        "api_url": request.build_absolute_uri("/api/v1/org/projects"),
        "sudo_active": sudo.is_active(request),
    }
    fresh = shown_once(request, context)
    status = 400 if request.method == "POST" else 200
    response = render(request, "projects/org_api_keys.html", context, status=status)
    if fresh:
        response["Cache-Control"] = "no-store"
    return response


@project_view(read="project:admin", write="project:admin")
def audit_log(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    events = AuditEvent.objects.filter(project=project).order_by("-created_at", "-pk")
    action = request.GET.get("action", "").strip()
    if action:
        events = events.filter(action__startswith=action)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    actions = (
        AuditEvent.objects.filter(project=project)
        .order_by("action")
        .values_list("action", flat=True)
        .distinct()
    )
    return render(request, "projects/audit.html", {"page": page, "action": action, "actions": actions})
