"""What a new account gets when it verifies its email: its own organization and default project."""

from __future__ import annotations

from django.db import transaction

from projects import audit
from projects.models import Organization, OrgMembership, Project, ProjectMember
from projects.roles import Role


@transaction.atomic
def create_workspace(user, request=None) -> Project:
    """An organization owned by `user`, whose default project `user` owns too."""
    org = Organization.objects.create(name=f"{user.display_name}’s organization")
    OrgMembership.objects.create(user=user, organization=org, role=OrgMembership.OrgRole.OWNER)
    project = org.default_project
    ProjectMember.objects.create(user=user, project=project, role=Role.OWNER)
    audit.record(
        request, "organization.created", organization=org, project=project, actor=user, target=org.name
    )
    return project


@transaction.atomic
def create_project(user, organization: Organization, name: str, request=None, slug: str = "") -> Project:
    """A new project in `organization`, owned by its creator (None: an API key nobody owns any more;
    the organization's owners and admins still administer the project)."""
    project = Project.objects.create(organization=organization, name=name, slug=slug)
    if user is not None:
        ProjectMember.objects.create(user=user, project=project, role=Role.OWNER)
    audit.record(request, "project.created", project=project, actor=user, target=project.name)
    return project
