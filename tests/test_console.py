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
