from django.core.management import call_command

from accounts.models import User
from projects.models import Organization, Project, ProjectMember
from tests.factories import make_user


def test_the_staff_console_is_for_staff_only(client, db):
    client.force_login(make_user("someone@example.com"))
    assert client.get("/admin/").status_code == 404
    staff = make_user("staff@example.com", is_staff=True)
    client.force_login(staff)
    body = client.get("/admin/").content.decode()
    for tab in ("#overview", "#llm", "#projects", "#users"):
        assert f'href="{tab}"' in body
        assert f'id="{tab[1:]}"' in body


def test_anonymous_visitors_get_404_from_the_console(client, db):
    assert client.get("/admin/").status_code == 404


def test_the_model_admin_lists_every_model(client, db):
    client.force_login(User.objects.create_superuser(email="root@example.com", password="pw-123456789"))
    for path in [
        "accounts/user",
        "projects/organization",
        "projects/orgmembership",
        "projects/project",
        "projects/projectmember",
        "projects/invitation",
        "projects/auditevent",
    ]:
        assert client.get(f"/admin/db/{path}/").status_code == 200, path


def test_seed_demo_is_idempotent(db):
    call_command("seed_demo")
    counts = (
        User.objects.count(),
        Organization.objects.count(),
        Project.objects.count(),
        ProjectMember.objects.count(),
    )
    call_command("seed_demo")
    assert (
        User.objects.count(),
        Organization.objects.count(),
        Project.objects.count(),
        ProjectMember.objects.count(),
    ) == counts
    assert counts[2] == 2
    roles = set(ProjectMember.objects.values_list("role", flat=True))
    assert roles == {"owner", "admin", "member", "viewer"}
    assert User.objects.get(email="demo@qodex.local").check_password("qodex-demo-2026")


def staff_client(client):
    client.force_login(make_user("staff@example.com", is_staff=True))
    return client


def test_the_console_pages_each_table_on_its_own(client, db):
    org = Organization.objects.create(name="Acme")
    for n in range(55):
        Project.objects.create(organization=org, name=f"Project {n:02}")
    for n in range(51):
        make_user(f"user{n:02}@example.com")
    client = staff_client(client)
    first = client.get("/admin/").content.decode()
    assert "Project 54" in first and "Project 04" not in first  # newest first, 50 a page
    assert 'href="?projects_page=2#projects"' in first and 'href="?users_page=2#users"' in first
    second = client.get("/admin/", {"projects_page": 2, "users_page": 1}).content.decode()
    assert "Project 04" in second and "Project 54" not in second
    assert "user50@example.com" in second  # the users table stayed on its first page


def test_the_console_searches_users_and_projects(client, db):
    acme = Organization.objects.create(name="Acme")
    checkout = Project.objects.create(organization=acme, name="Checkout")
    Project.objects.create(organization=Organization.objects.create(name="Globex"), name="Billing")
    make_user("carol@acme.test")
    make_user("dave@globex.test")
    client = staff_client(client)
    body = client.get("/admin/", {"q": "acme"}).content.decode()
    assert "Checkout" in body and "Billing" not in body  # by organization name
    assert "carol@acme.test" in body and "dave@globex.test" not in body
    assert "Checkout" in client.get("/admin/", {"q": checkout.public_id}).content.decode()
    empty = client.get("/admin/", {"q": "nothing-like-this"}).content.decode()
    assert "No project matches “nothing-like-this”." in empty
    assert "No user matches “nothing-like-this”." in empty


def test_the_console_runs_the_same_queries_for_5_and_60_rows(client, db):
    client = staff_client(client)
    org = Organization.objects.create(name="Acme")

    def count_queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get("/admin/").status_code == 200
        return len(queries)

    few = count_queries()
    for n in range(60):
        Project.objects.create(organization=org, name=f"P{n}")
        make_user(f"bulk{n}@example.com")
    assert count_queries() == few
