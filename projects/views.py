"""Project pages. Every `/p/<slug>/` view is wrapped by projects.access.project_view: read its first line."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts import sudo
from accounts.models import User
from projects import audit, invitations, onboarding
from projects import members as member_changes
from projects.access import ProjectAccess, project_view
from projects.forms import (
    ApiKeyCreateForm,
    InviteForm,
    MemoryForm,
    ProjectCreateForm,
    ProjectDeleteForm,
    ProjectRenameForm,
    grantable_roles,
)
from projects.models import (
    ORG_ADMIN_ROLES,
    ApiKey,
    AuditEvent,
    Invitation,
    Memory,
    Organization,
    Project,
    ProjectMember,
)
from projects.roles import Role


def home(request: HttpRequest) -> HttpResponse:
    """Anonymous: the landing page. Signed in: the last project used, else the first one, else a new one."""
    if not request.user.is_authenticated:
        return render(request, "landing.html")
    reachable = Project.objects.for_user(request.user)
    project = None
    if request.user.last_project_id:
        project = reachable.filter(pk=request.user.last_project_id).first()
    project = project or reachable.order_by("-is_default", "created_at").first()
    if project is None:
        return redirect("project_new")
    return redirect("projects:overview", slug=project.slug)


@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    organizations = Organization.objects.filter(
        memberships__user=request.user, memberships__role__in=ORG_ADMIN_ROLES
    ).order_by("name")
    form = ProjectCreateForm(
        organizations,
        request.POST or None,
        initial={"organization": getattr(organizations.first(), "pk", None)},
    )
    if request.method == "POST" and form.is_valid():
        organization = form.cleaned_data["organization"] or organizations.first()
        if organization is None:
            # Someone who joined only through invitations gets an organization of their own here.
            with transaction.atomic():
                project = onboarding.create_workspace(request.user, request)
                project.name = form.cleaned_data["name"]
                project.save(update_fields=["name"])
        else:
            project = onboarding.create_project(
                request.user, organization, form.cleaned_data["name"], request
            )
        messages.success(request, f"Created {project.name}.")
        return redirect("projects:overview", slug=project.slug)
    return render(request, "projects/new.html", {"form": form})


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    invitation = Invitation.objects.by_token(token)
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


# Pages whose content arrives with later issues: present, permission-checked, with an honest empty state.
SECTIONS = {
    "chat": ("Chat", "Conversations with the project’s AI assistant will appear here."),
    "scenarios": ("Scenarios", "API and UI scenarios that describe what to test will appear here."),
    "test_runs": ("Test runs", "Runs of scenarios against an environment will appear here."),
    "findings": ("Findings", "Problems found by test runs will appear here."),
    "playground": ("Playground", "Try a single prompt against the project’s model here."),
    "byok": ("Bring your own key", "Your own LLM provider credentials will be managed here."),
    "usage": ("Usage", "LLM calls, tokens and cost for this project will appear here."),
}


@project_view()
def section(request: HttpRequest, project: Project, access: ProjectAccess, *, section: str) -> HttpResponse:
    title, empty = SECTIONS[section]
    return render(request, "projects/section.html", {"section": section, "title": title, "empty": empty})


@project_view()
def memory(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    """The project's knowledge: list and search; members add, edit and delete (SPEC §9)."""
    form = MemoryForm()
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "add":
            form = MemoryForm(request.POST)
            if form.is_valid():
                Memory.objects.add(
                    project=project, content=form.cleaned_data["content"], created_by=request.user
                )
                messages.success(request, "Memory added.")
                return redirect("projects:memory", slug=project.slug)
        elif action in ("edit", "delete"):
            item = get_object_or_404(Memory.objects.for_project(project), pk=posted_id(request, "memory_id"))
            if action == "delete":
                item.delete()
                messages.success(request, "Memory deleted.")
                return redirect("projects:memory", slug=project.slug)
            edit = MemoryForm(request.POST)
            if edit.is_valid():
                item.content = edit.cleaned_data["content"]
                item.save(update_fields=["content", "updated_at"])
                messages.success(request, "Memory updated.")
            else:
                messages.error(request, "A memory needs some text (at most 20,000 characters).")
            return redirect("projects:memory", slug=project.slug)
        else:
            messages.error(request, "Unknown action.")
    query = request.GET.get("q", "").strip()[:200]
    memories = Memory.objects.for_project(project).select_related("created_by").order_by("-pk")
    if query:
        memories = memories.search(query)
    context = {
        "form": form,
        "query": query,
        "page": Paginator(memories, 50).get_page(request.GET.get("page")),
    }
    return render(request, "projects/memory.html", context, status=400 if request.method == "POST" else 200)


@project_view(write="project:admin")
def settings(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    needs_password = not sudo.is_active(request)
    rename_form = ProjectRenameForm(initial={"name": project.name})
    if not access.is_admin:
        rename_form.fields["name"].disabled = True
    delete_form = ProjectDeleteForm(project, request.user, needs_password)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "rename":
            rename_form = ProjectRenameForm(request.POST)
            if rename_form.is_valid():
                project.rename(rename_form.cleaned_data["name"], request=request)
                messages.success(request, "Project renamed.")
                return redirect("projects:settings", slug=project.slug)
        elif action == "make_default":
            project.set_default(request=request)
            messages.success(
                request, f"{project.name} is now the default project of {project.organization.name}."
            )
            return redirect("projects:settings", slug=project.slug)
        elif action == "delete":
            if not access.can("project:owner"):
                raise PermissionDenied("Only an owner can delete the project.")
            delete_form = ProjectDeleteForm(project, request.user, needs_password, request.POST)
            if project.is_default:
                delete_form.add_error(
                    None, "This is the organization’s default project. Make another one default first."
                )
            elif delete_form.is_valid():
                sudo.confirm(request)
                project.soft_delete(request=request)
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
        action = request.POST.get("action")
        if action == "invite":
            invite_form = InviteForm(project, access.role, request.POST)
            if invite_form.is_valid():
                invitation = invitations.invite(
                    request,
                    project,
                    invite_form.cleaned_data["email"],
                    invite_form.cleaned_data["role"],
                    request.user,
                )
                messages.success(request, f"Invitation sent to {invitation.email}.")
                return redirect("projects:members", slug=project.slug)
        elif action in ("change_role", "remove"):
            return _change_member(request, project, access, action)
        elif action in ("resend", "revoke"):
            return _change_invitation(request, project, action)
        else:
            messages.error(request, "Unknown action.")
    context = {
        "members": project.members.select_related("user").order_by("joined_at"),
        "invitations": project.invitations.pending().select_related("invited_by").order_by("-created_at"),
        "invite_form": invite_form,
        "grantable_roles": grantable_roles(access.role),
    }
    return render(request, "projects/members.html", context, status=400 if request.method == "POST" else 200)


def _change_member(
    request: HttpRequest, project: Project, access: ProjectAccess, action: str
) -> HttpResponse:
    member = get_object_or_404(
        ProjectMember.objects.select_related("user"), project=project, pk=posted_id(request, "member_id")
    )
    back = redirect("projects:members", slug=project.slug)
    new_role = request.POST.get("role", "")
    if action == "change_role" and new_role not in Role.values:
        messages.error(request, "Pick one of the listed roles.")
        return back
    touches_owner = member.role == Role.OWNER or new_role == Role.OWNER
    if touches_owner:
        if not access.can("project:owner"):
            raise PermissionDenied("Only an owner can change an owner.")
        if not sudo.is_active(request):
            messages.info(request, "Confirm your password to change an owner.")
            return redirect(f"{reverse('accounts:confirm_password')}?next={request.path}")
    unchanged = action == "change_role" and new_role == member.role
    try:
        member_changes.change(request, member, new_role=None if action == "remove" else new_role)
    except member_changes.LastOwner as refusal:
        messages.error(request, refusal.message)
        return back
    if action == "remove":
        messages.success(request, f"Removed {member.user.email}.")
    elif not unchanged:
        messages.success(request, f"{member.user.email} is now {member.get_role_display().lower()}.")
    return back


def _change_invitation(request: HttpRequest, project: Project, action: str) -> HttpResponse:
    invitation = get_object_or_404(project.invitations.pending(), pk=posted_id(request, "invitation_id"))
    if action == "resend":
        token = invitation.refresh_token()
        invitations.send(request, invitation, token)
        audit.record(request, "invitation.resent", project=project, target=invitation.email)
        messages.success(request, f"Sent a fresh invitation to {invitation.email}.")
    else:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit.record(request, "invitation.revoked", project=project, target=invitation.email)
        messages.success(request, f"Revoked the invitation for {invitation.email}.")
    return redirect("projects:members", slug=project.slug)


# Everyone reads every project page (SPEC §3; the list shows prefixes only); admins manage keys.
@project_view(write="project:admin")
def api_keys(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    """Project-locked keys for CI: created here (shown once), listed by prefix, revoked."""
    form = ApiKeyCreateForm()
    new_key = None
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "create":
            if not sudo.is_active(request):
                messages.info(request, "Confirm your password to create an API key.")
                return redirect(f"{reverse('accounts:confirm_password')}?next={request.path}")
            form = ApiKeyCreateForm(request.POST)
            if form.is_valid():
                days = form.cleaned_data["expires_in"]
                key, new_key = ApiKey.issue(
                    organization=project.organization,
                    project=project,
                    name=form.cleaned_data["name"],
                    scope=form.cleaned_data["scope"],
                    expires_at=timezone.now() + timedelta(days=int(days)) if days else None,
                    created_by=request.user,
                )
                audit.record(
                    request,
                    "api_key.created",
                    project=project,
                    target=str(key),
                    details={"scope": key.scope, "prefix": key.prefix},
                )
                form = ApiKeyCreateForm()
        elif action == "revoke":
            key = get_object_or_404(
                ApiKey.objects.active().filter(project=project), pk=posted_id(request, "key_id")
            )
            key.revoke()
            audit.record(request, "api_key.revoked", project=project, target=str(key))
            messages.success(request, f"Revoked {key.name}. Requests with it now get 401.")
            return redirect("projects:api_keys", slug=project.slug)
        else:
            messages.error(request, "Unknown action.")
    context = {
        "form": form,
        "new_key": new_key,
        "keys": ApiKey.objects.active().filter(project=project).select_related("created_by").order_by("-pk"),
        "api_url": request.build_absolute_uri("/api/v1/project"),
        "sudo_active": sudo.is_active(request),
    }
    failed = request.method == "POST" and new_key is None
    response = render(request, "projects/api_keys.html", context, status=400 if failed else 200)
    if new_key:
        response["Cache-Control"] = "no-store"  # the one page that shows the key: never cached
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


CONSOLE_PAGE_SIZE = 50


@require_http_methods(["GET", "HEAD"])
def staff_console(request: HttpRequest) -> HttpResponse:
    """The staff console; tabs are addressed by URL fragment (#overview, #llm, #projects, #users).

    `?q=` searches users by email and projects by name, slug, `proj_` id or organization; each table
    pages on its own (`?projects_page=`, `?users_page=`).
    """
    if not (request.user.is_authenticated and request.user.is_staff):
        raise Http404
    query = request.GET.get("q", "").strip()[:100]
    projects = (
        Project.objects.select_related("organization")
        .annotate(member_total=Count("members"))
        .order_by("-created_at", "-pk")
    )
    users = User.objects.order_by("-date_joined", "-pk")
    if query:
        projects = projects.filter(
            Q(name__icontains=query)
            | Q(slug__icontains=query)
            | Q(public_id=query)
            | Q(organization__name__icontains=query)
        )
        users = users.filter(email__icontains=query)
    context = {
        "counts": {
            "users": User.objects.count(),
            "organizations": Organization.objects.count(),
            "projects": Project.objects.alive().count(),
        },
        "query": query,
        "projects_page": Paginator(projects, CONSOLE_PAGE_SIZE).get_page(request.GET.get("projects_page")),
        "users_page": Paginator(users, CONSOLE_PAGE_SIZE).get_page(request.GET.get("users_page")),
    }
    return render(request, "admin_console/index.html", context)
