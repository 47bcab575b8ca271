from projects.models import AuditEvent, Project, ProjectMember
from projects.roles import Role


def settings_url(project) -> str:
    return f"/p/{project.slug}/settings/"


def test_rename_is_audited(cast, login):
    login(cast.admin).post(settings_url(cast.project), {"action": "rename", "name": "Storefront"})
    cast.project.refresh_from_db()
    assert cast.project.name == "Storefront"
    assert AuditEvent.objects.get(action="project.renamed").details == {"from": "Default", "to": "Storefront"}


def test_rename_rejects_a_blank_name_and_changes_nothing(cast, login):
    response = login(cast.admin).post(settings_url(cast.project), {"action": "rename", "name": "  "})
    assert response.status_code == 400
    cast.project.refresh_from_db()
    assert cast.project.name == "Default"


def test_delete_requires_typing_the_slug(cast, client):
    project = cast.other_project
    ProjectMember.objects.create(project=project, user=cast.owner, role=Role.OWNER)
    client.force_login(cast.owner)
    response = client.post(settings_url(project), {"action": "delete", "confirm_slug": "wrong"})
    assert response.status_code == 400
    assert f"Type “{project.slug}” exactly" in response.content.decode()
    project.refresh_from_db()
    assert project.deleted_at is None


def test_delete_asks_for_the_password_when_sudo_mode_expired(cast, client):
    project = cast.other_project
    ProjectMember.objects.create(project=project, user=cast.owner, role=Role.OWNER)
    client.force_login(cast.owner)
    session = client.session
    del session["sudo_confirmed_at"]
    session.save()
    response = client.post(settings_url(project), {"action": "delete", "confirm_slug": project.slug})
    assert response.status_code == 400
    project.refresh_from_db()
    assert project.deleted_at is None
    response = client.post(
        settings_url(project),
        {"action": "delete", "confirm_slug": project.slug, "password": "correct-horse-battery"},
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.deleted_at is not None
    assert AuditEvent.objects.filter(action="project.deleted", project=project).exists()
    assert client.get(f"/p/{project.slug}/").status_code == 404


def test_the_default_project_cannot_be_deleted_from_the_page(cast, login):
    response = login(cast.owner).post(
        settings_url(cast.project), {"action": "delete", "confirm_slug": cast.project.slug}
    )
    assert response.status_code == 400
    assert "default project" in response.content.decode()
    cast.project.refresh_from_db()
    assert cast.project.deleted_at is None


def test_make_default_moves_the_flag(cast, login):
    second = Project.objects.create(organization=cast.org, name="Second")
    ProjectMember.objects.create(project=second, user=cast.admin, role=Role.ADMIN)
    login(cast.admin).post(settings_url(second), {"action": "make_default"})
    assert list(cast.org.projects.filter(is_default=True)) == [second]
    assert AuditEvent.objects.filter(action="project.default_changed").exists()


def test_audit_page_filters_by_action(cast, login):
    client = login(cast.admin)
    client.post(settings_url(cast.project), {"action": "rename", "name": "One"})
    client.post(
        f"/p/{cast.project.slug}/settings/members/", {"action": "invite", "email": "a@b.co", "role": "member"}
    )
    body = client.get(f"/p/{cast.project.slug}/settings/audit/?action=member.").content.decode()
    assert "member.invited" in body
    assert "project.renamed</code>" not in body


def test_viewers_see_the_settings_read_only(cast, login):
    body = login(cast.viewer).get(settings_url(cast.project)).content.decode()
    assert 'name="name"' in body and "disabled" in body
    assert "Delete project" not in body


def test_the_audit_pager_keeps_the_action_filter(cast, login):
    for i in range(60):
        AuditEvent.objects.create(
            organization=cast.org, project=cast.project, action="member.invited", target=str(i)
        )
    body = login(cast.admin).get(f"/p/{cast.project.slug}/settings/audit/?action=member.").content.decode()
    assert 'href="?action=member.&amp;page=2">Older</a>' in body


def test_row_actions_ask_before_removing(cast, login):
    body = login(cast.admin).get(f"/p/{cast.project.slug}/settings/members/").content.decode()
    assert f'data-confirm="Remove {cast.viewer.email} from {cast.project.name}?"' in body
