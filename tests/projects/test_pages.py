from django.db import connection
from django.test.utils import CaptureQueriesContext

from environments.models import Environment
from projects.models import AuditEvent, OrgMembership, Project, ProjectMember
from projects.roles import Role
from tests.factories import add_member, make_org, make_project, make_user


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def grow(cast, projects: int, members: int) -> None:
    for i in range(projects):
        ProjectMember.objects.create(
            user=cast.owner, project=make_project(cast.org, f"P{i}"), role=Role.OWNER
        )
    for _ in range(members):
        add_member(cast.project, Role.MEMBER)


def test_overview_and_switcher_run_a_constant_number_of_queries(cast, client):
    client.force_login(cast.owner)
    url = f"/p/{cast.project.slug}/"
    client.get(url)  # the first visit records the last project
    grow(cast, projects=2, members=2)
    small = count_queries(client, url)
    grow(cast, projects=48, members=48)
    assert Project.objects.for_user(cast.owner).count() >= 50
    assert count_queries(client, url) == small
    assert small <= 10


def test_the_environment_switcher_keeps_page_queries_constant(cast, client):
    """The header switcher and the overview card: 2 environments or 30, the same queries."""
    client.force_login(cast.viewer)
    pages = [f"/p/{cast.project.slug}/", f"/p/{cast.project.slug}/settings/environments/"]
    client.get(pages[0])

    def add(names):
        for name in names:
            Environment.objects.create(project=cast.project, name=name, base_url="https://acme.test")

    add(["Env 0", "Env 1"])
    ProjectMember.objects.filter(user=cast.viewer).update(active_environment=Environment.objects.first())
    small = [count_queries(client, url) for url in pages]
    add(f"Env {i}" for i in range(2, 30))
    assert [count_queries(client, url) for url in pages] == small
    body = client.get(pages[0]).content.decode()
    assert body.count('class="env-option"') == 30


def test_members_and_audit_pages_run_a_constant_number_of_queries(cast, client):
    client.force_login(cast.owner)
    members, audit = f"/p/{cast.project.slug}/settings/members/", f"/p/{cast.project.slug}/settings/audit/"
    client.get(members)
    grow(cast, projects=0, members=2)
    for i in range(2):
        AuditEvent.objects.create(
            organization=cast.org, project=cast.project, action=f"seed.{i}", actor=cast.owner
        )
    counts = count_queries(client, members), count_queries(client, audit)
    grow(cast, projects=0, members=50)
    for i in range(60):
        AuditEvent.objects.create(
            organization=cast.org, project=cast.project, action=f"test.{i}", actor=cast.owner
        )
    assert (count_queries(client, members), count_queries(client, audit)) == counts


def test_the_switcher_lists_every_project_grouped_by_organization(cast, client):
    other_org = make_org("Beta Corp")
    make_project(other_org, "Hidden")  # not a member: not listed
    visible = make_project(other_org, "Visible")
    ProjectMember.objects.create(user=cast.owner, project=visible, role=Role.VIEWER)
    deleted = make_project(cast.org, "Deleted one")
    ProjectMember.objects.create(user=cast.owner, project=deleted, role=Role.OWNER)
    deleted.soft_delete()
    client.force_login(cast.owner)
    body = client.get(f"/p/{cast.project.slug}/").content.decode()
    switcher = body[body.index('data-testid="project-switcher"') :]
    assert "Acme" in switcher and "Beta Corp" in switcher
    assert "Visible" in switcher
    assert "Hidden" not in switcher
    assert "Deleted one" not in switcher
    assert "+ New project" in switcher
    assert switcher.index("Acme") < switcher.index("Beta Corp")


def test_root_redirects_to_the_last_project_used(cast, client):
    second = make_project(cast.org, "Second")
    ProjectMember.objects.create(user=cast.owner, project=second, role=Role.OWNER)
    client.force_login(cast.owner)
    assert client.get("/")["Location"] == f"/p/{cast.project.slug}/"
    client.get(f"/p/{second.slug}/settings/")
    assert client.get("/")["Location"] == f"/p/{second.slug}/"
    second.soft_delete()
    assert client.get("/")["Location"] == f"/p/{cast.project.slug}/"


def test_root_shows_the_landing_page_to_anonymous_visitors(client, db):
    body = client.get("/").content.decode()
    assert "Sign up" in body and "Log in" in body


def test_new_project_makes_its_creator_owner(cast, client):
    client.force_login(cast.member)
    OrgMembership.objects.create(user=cast.member, organization=cast.org, role=OrgMembership.OrgRole.ADMIN)
    response = client.post("/projects/new/", {"name": "Mobile App", "organization": cast.org.pk})
    project = Project.objects.get(name="Mobile App")
    assert response["Location"] == f"/p/{project.slug}/"
    assert project.organization == cast.org
    assert ProjectMember.objects.get(project=project, user=cast.member).role == Role.OWNER
    assert AuditEvent.objects.filter(action="project.created", project=project).exists()


def test_new_project_refuses_an_organization_the_user_does_not_administer(cast, client):
    client.force_login(cast.owner)
    foreign_org = cast.other_project.organization
    response = client.post("/projects/new/", {"name": "Sneaky", "organization": foreign_org.pk})
    assert response.status_code == 400
    assert not Project.objects.filter(name="Sneaky").exists()


def test_new_project_for_someone_without_an_organization_creates_one(db, client):
    user = make_user("invited-only@example.com")
    client.force_login(user)
    client.post("/projects/new/", {"name": "My Own"})
    project = Project.objects.get(name="My Own")
    assert project.is_default
    assert OrgMembership.objects.get(user=user).organization == project.organization


def test_new_project_needs_a_name(cast, client):
    client.force_login(cast.owner)
    response = client.post("/projects/new/", {"name": "   "})
    assert response.status_code == 400
    assert (
        "This field is required" in response.content.decode()
        or "Give the project a name" in response.content.decode()
    )


def test_new_project_from_the_switcher_says_which_organization_it_goes_to(cast, client):
    client.force_login(cast.owner)
    body = client.get(f"/projects/new/?organization={cast.org.pk}").content.decode()
    assert "It goes to <strong>Acme</strong>" in body


def test_new_project_under_an_organization_one_cannot_create_in_says_so(cast, client):
    # The admin of a project reaches Acme through it, but doesn't administer Acme.
    client.force_login(cast.admin)
    body = client.get(f"/projects/new/?organization={cast.org.pk}").content.decode()
    assert "Only owners and admins of <strong>Acme</strong> create projects there" in body
    assert "goes to a new organization of your own" in body


def test_new_project_never_names_an_organization_one_cannot_reach(cast, client):
    client.force_login(cast.admin)
    foreign = cast.other_project.organization
    body = client.get(f"/projects/new/?organization={foreign.pk}").content.decode()
    assert foreign.name not in body
