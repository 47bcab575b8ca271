"""One door per change (docs/ARCHITECTURE.md): each door, driven through the page and through the API by
every kind of caller, allows and refuses the same callers, writes the same audit event, and writes
nothing when it refuses.

The `allowed` sets are SPEC §3 written out, not derived from the code. A door registered in
`qodex.doors.DOORS` without a row here (or a reason in NOT_ROLE_DRIVEN) fails `test_every_door_has_a_row`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from django.utils.module_loading import autodiscover_modules

from byok.models import ProviderCredential
from byok.standin import StandIn
from environments.models import Environment
from projects.models import (
    ApiKey,
    AuditEvent,
    Invitation,
    OrgMembership,
    Project,
    ProjectMember,
)
from projects.roles import Role
from qa.models import Collection, Conversation, Finding, Memory, Scenario, Script, TestRun, WebhookSecret
from qodex.doors import DOORS
from tests.api.conftest import ApiClient, set_sudo
from tests.factories import make_project, make_user

SESSION_CALLERS = ("owner", "admin", "member", "viewer", "org_admin", "org_owner")
KEY_CALLERS = ("key_read", "key_write", "key_admin")
EVERYONE = SESSION_CALLERS + KEY_CALLERS
# SPEC §3: who may do what. Keys act as viewer (read), admin (write) and owner (admin, org-wide).
ADMINS = {"owner", "admin", "org_admin", "org_owner", "key_write", "key_admin"}
MEMBERS = ADMINS | {"member"}
OWNERS = {"owner", "org_owner", "key_admin"}
ORG_ADMINS = {"org_admin", "org_owner", "key_write", "key_admin"}  # `owner` owns the organization too


@dataclass
class World:
    cast: Any
    project: Project
    callers: dict[str, Any]
    keys: dict[str, str]
    cookie_site: str = ""

    @property
    def slug(self) -> str:
        return self.project.slug


@pytest.fixture
def world(cast) -> World:
    org_admin = make_user("org-admin@acme.test")
    OrgMembership.objects.create(user=org_admin, organization=cast.org, role=OrgMembership.OrgRole.ADMIN)
    org_owner = make_user("org-owner@acme.test")
    OrgMembership.objects.create(user=org_owner, organization=cast.org, role=OrgMembership.OrgRole.OWNER)
    keys = {
        f"key_{scope}": ApiKey.issue(organization=cast.org, name=scope, scope=scope, created_by=cast.owner)[1]
        for scope in ("read", "write", "admin")
    }
    callers = {
        "owner": cast.owner,
        "admin": cast.admin,
        "member": cast.member,
        "viewer": cast.viewer,
        "org_admin": org_admin,
        "org_owner": org_owner,
    }
    return World(cast=cast, project=make_project(cast.org, "Target"), callers=callers, keys=keys)


def session(world: World, caller: str) -> Client:
    """A signed-in client in sudo mode (sudo has its own tests): only the role decides here."""
    client = Client()
    client.force_login(world.callers[caller])
    set_sudo(client, True)
    return client


def members_of_target(world: World) -> None:
    """The target project gets the cast's project roles (the cast is built on another project)."""
    for role in ("owner", "admin", "member", "viewer"):
        ProjectMember.objects.create(project=world.project, user=world.callers[role], role=role)


@dataclass
class Row:
    door: str  # its key in qodex.doors.DOORS
    action: str  # the audit event it writes
    allowed: set[str]
    setup: Callable[[World], Any]
    happened: Callable[[World, Any], bool]
    page: Callable[[Client, World, Any], Any] | None = None
    api: Callable[[ApiClient, World, Any], Any] | None = None


def member_row(world: World) -> ProjectMember:
    members_of_target(world)
    extra = make_user("extra@acme.test")
    return ProjectMember.objects.create(project=world.project, user=extra, role=Role.MEMBER)


def pending_invitation(world: World) -> Invitation:
    members_of_target(world)
    return world.project.invite("guest@elsewhere.test", Role.MEMBER, world.cast.owner)[0]


def locked_key(world: World) -> ApiKey:
    members_of_target(world)
    return ApiKey.issue(organization=world.cast.org, project=world.project, name="locked")[0]


def a_memory(world: World) -> Memory:
    members_of_target(world)
    return Memory.objects.add(project=world.project, content="The staging database resets nightly")


def settings_url(world: World) -> str:
    return f"/p/{world.slug}/settings/"


ROWS = [
    Row(
        "projects.doors.rename_project",
        "project.renamed",
        ADMINS,
        setup=members_of_target,
        happened=lambda w, _: Project.objects.get(pk=w.project.pk).name == "Renamed",
        page=lambda c, w, _: c.post(settings_url(w), {"action": "rename", "name": "Renamed"}),
        api=lambda a, w, _: a.patch(f"/api/v1/org/projects/{w.project.public_id}", json={"name": "Renamed"}),
    ),
    Row(
        "projects.doors.make_default",
        "project.default_changed",
        ADMINS,
        setup=members_of_target,
        happened=lambda w, _: Project.objects.get(pk=w.project.pk).is_default,
        page=lambda c, w, _: c.post(settings_url(w), {"action": "make_default"}),
        api=lambda a, w, _: a.patch(f"/api/v1/org/projects/{w.project.public_id}", json={"is_default": True}),
    ),
    Row(
        "projects.doors.delete_project",
        "project.deleted",
        OWNERS,
        setup=members_of_target,
        happened=lambda w, _: Project.objects.get(pk=w.project.pk).deleted_at is not None,
        page=lambda c, w, _: c.post(settings_url(w), {"action": "delete", "confirm_slug": w.slug}),
        api=lambda a, w, _: a.delete(f"/api/v1/org/projects/{w.project.public_id}"),
    ),
    Row(
        "projects.doors.create_project",
        "project.created",
        ORG_ADMINS | {"owner"},
        setup=lambda w: None,
        happened=lambda w, _: Project.objects.filter(organization=w.cast.org, name="Fresh").exists(),
        page=lambda c, w, _: c.post("/projects/new/", {"name": "Fresh", "organization": w.cast.org.pk}),
        api=lambda a, w, _: a.post("/api/v1/org/projects", json={"name": "Fresh"}),
    ),
    Row(
        "projects.doors.invite_member",
        "member.invited",
        ADMINS,
        setup=members_of_target,
        happened=lambda w, _: Invitation.objects.filter(project=w.project, email="new@acme.test").exists(),
        page=lambda c, w, _: c.post(
            f"/p/{w.slug}/settings/members/", {"action": "invite", "email": "new@acme.test", "role": "member"}
        ),
        api=lambda a, w, _: a.post(
            f"/api/v1/p/{w.slug}/members", json={"email": "new@acme.test", "role": "member"}
        ),
    ),
    Row(
        "projects.doors.change_member_role",
        "member.role_changed",
        ADMINS,
        setup=member_row,
        happened=lambda w, m: ProjectMember.objects.get(pk=m.pk).role == Role.VIEWER,
        page=lambda c, w, m: c.post(
            f"/p/{w.slug}/settings/members/", {"action": "change_role", "member_id": m.pk, "role": "viewer"}
        ),
        api=lambda a, w, m: a.patch(f"/api/v1/p/{w.slug}/members/{m.pk}", json={"role": "viewer"}),
    ),
    Row(
        "projects.doors.remove_member",
        "member.removed",
        ADMINS,
        setup=member_row,
        happened=lambda w, m: not ProjectMember.objects.filter(pk=m.pk).exists(),
        page=lambda c, w, m: c.post(
            f"/p/{w.slug}/settings/members/", {"action": "remove", "member_id": m.pk}
        ),
        api=lambda a, w, m: a.delete(f"/api/v1/p/{w.slug}/members/{m.pk}"),
    ),
    Row(
        "projects.doors.resend_invitation",
        "invitation.resent",
        ADMINS,
        setup=pending_invitation,
        happened=lambda w, i: Invitation.objects.get(pk=i.pk).token_hash != i.token_hash,
        page=lambda c, w, i: c.post(
            f"/p/{w.slug}/settings/members/", {"action": "resend", "invitation_id": i.pk}
        ),
    ),
    Row(
        "projects.doors.revoke_invitation",
        "invitation.revoked",
        ADMINS,
        setup=pending_invitation,
        happened=lambda w, i: Invitation.objects.get(pk=i.pk).revoked_at is not None,
        page=lambda c, w, i: c.post(
            f"/p/{w.slug}/settings/members/", {"action": "revoke", "invitation_id": i.pk}
        ),
    ),
    Row(
        "projects.doors.create_api_key",
        "api_key.created",
        ADMINS,
        setup=members_of_target,
        happened=lambda w, _: ApiKey.objects.filter(project=w.project, name="CI").exists(),
        page=lambda c, w, _: c.post(
            f"/p/{w.slug}/settings/api-keys/", {"action": "create", "name": "CI", "scope": "read"}
        ),
        api=lambda a, w, _: a.post(
            "/api/v1/org/api-keys", json={"name": "CI", "scope": "read", "project_id": w.project.public_id}
        ),
    ),
    Row(
        "projects.doors.revoke_api_key",
        "api_key.revoked",
        ADMINS,
        setup=locked_key,
        happened=lambda w, k: ApiKey.objects.get(pk=k.pk).revoked_at is not None,
        page=lambda c, w, k: c.post(f"/p/{w.slug}/settings/api-keys/", {"action": "revoke", "key_id": k.pk}),
        api=lambda a, w, k: a.delete(f"/api/v1/org/api-keys/{k.pk}"),
    ),
    Row(
        "qa.doors.add_memory",
        "memory.created",
        MEMBERS,
        setup=members_of_target,
        happened=lambda w, _: Memory.objects.filter(project=w.project, content="Use the EU region").exists(),
        page=lambda c, w, _: c.post(
            f"/p/{w.slug}/memory/", {"action": "add", "content": "Use the EU region"}
        ),
        api=lambda a, w, _: a.post(f"/api/v1/p/{w.slug}/memories", json={"content": "Use the EU region"}),
    ),
    Row(
        "qa.doors.update_memory",
        "memory.updated",
        MEMBERS,
        setup=a_memory,
        happened=lambda w, m: Memory.objects.get(pk=m.pk).content == "Resets weekly",
        page=lambda c, w, m: c.post(
            f"/p/{w.slug}/memory/", {"action": "edit", "memory_id": m.pk, "content": "Resets weekly"}
        ),
        api=lambda a, w, m: a.patch(f"/api/v1/p/{w.slug}/memories/{m.pk}", json={"content": "Resets weekly"}),
    ),
    Row(
        "qa.doors.delete_memory",
        "memory.deleted",
        MEMBERS,
        setup=a_memory,
        happened=lambda w, m: not Memory.objects.filter(pk=m.pk).exists(),
        page=lambda c, w, m: c.post(f"/p/{w.slug}/memory/", {"action": "delete", "memory_id": m.pk}),
        api=lambda a, w, m: a.delete(f"/api/v1/p/{w.slug}/memories/{m.pk}"),
    ),
]


def an_environment(world: World) -> Environment:
    members_of_target(world)
    return Environment.objects.create(
        project=world.project, name="Staging", base_url="https://staging.acme.test"
    )


def env_url(world: World, environment: Environment | None = None, tail: str = "") -> str:
    base = f"/p/{world.slug}/settings/environments/"
    return f"{base}{environment.pk}/{tail}" if environment is not None else f"{base}{tail}"


def edit_form(environment: Environment, **changes) -> dict[str, str]:
    data = {
        name: getattr(environment, name) for name in ("name", "base_url", "auth_type", "auth_header_name")
    }
    data.update({"max_rps": environment.max_rps or "", "read_only": "on", "auth_header_prefix": "Bearer "})
    data.update({"var-TOTAL_FORMS": "0", "var-INITIAL_FORMS": "0"})
    data.update(changes)
    return data


def an_export(world: World) -> str:
    exported = an_environment(world).to_export()
    return json.dumps({**exported, "name": "Imported"})


@pytest.fixture(scope="module")
def cookie_site():
    """A site that hands out a session cookie on GET /: enough for a UI login capture to succeed."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Set-Cookie", "session=abc; Path=/")
            self.end_headers()
            self.wfile.write(b"<!doctype html><title>Signed in</title><h1>Welcome</h1>")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def a_ui_login(world: World) -> Environment:
    members_of_target(world)
    return Environment.objects.create(
        project=world.project,
        name="Ui",
        base_url=world.cookie_site,
        auth_type=Environment.AuthType.UI_LOGIN,
        ui_login_steps=[{"action": "goto", "url": "${baseUrl}/"}],
    )


ENV_ROWS = [
    Row(
        "environments.doors.create_environment",
        "environment.created",
        MEMBERS,
        setup=members_of_target,
        happened=lambda w, _: Environment.objects.filter(project=w.project, name="Fresh").exists(),
        page=lambda c, w, _: c.post(
            env_url(w, tail="new/"),
            edit_form(Environment(name="Fresh", base_url="https://fresh.acme.test", max_rps=5)),
        ),
        api=lambda a, w, _: a.post(
            f"/api/v1/p/{w.slug}/environments", json={"name": "Fresh", "base_url": "https://fresh.acme.test"}
        ),
    ),
    Row(
        "environments.doors.update_environment",
        "environment.updated",
        MEMBERS,
        setup=an_environment,
        happened=lambda w, e: Environment.objects.get(pk=e.pk).max_rps == 9,
        page=lambda c, w, e: c.post(env_url(w, e), edit_form(e, max_rps="9")),
        api=lambda a, w, e: a.patch(f"/api/v1/p/{w.slug}/environments/{e.pk}", json={"max_rps": 9}),
    ),
    Row(
        "environments.doors.delete_environment",
        "environment.deleted",
        MEMBERS,
        setup=an_environment,
        happened=lambda w, e: not Environment.objects.filter(pk=e.pk).exists(),
        page=lambda c, w, e: c.post(env_url(w, e, "delete/")),
        api=lambda a, w, e: a.delete(f"/api/v1/p/{w.slug}/environments/{e.pk}"),
    ),
    Row(
        "environments.doors.import_environment",
        "environment.imported",
        MEMBERS,
        setup=an_export,
        happened=lambda w, _: Environment.objects.filter(project=w.project, name="Imported").exists(),
        page=lambda c, w, document: c.post(
            env_url(w, tail="import/"), {"action": "import", "document": document}
        ),
    ),
    Row(
        "environments.doors.capture_login",
        "environment.login_captured",
        MEMBERS,
        setup=a_ui_login,
        happened=lambda w, e: bool(Environment.objects.get(pk=e.pk).ui_storage_state),
        page=lambda c, w, e: c.post(env_url(w, e, "capture-login/")),
    ),
]
ROWS += ENV_ROWS

_byok_standin: StandIn | None = None
PARITY_LLM_KEY = "sk-parity-own-key-000000001111"


def byok_provider(world: World) -> str:
    """The target project's members, and one stand-in provider for the BYOK rows (started on first use;
    its thread is a daemon): where a key is checked before it is saved. Returns its base URL."""
    global _byok_standin
    members_of_target(world)
    if _byok_standin is None:
        _byok_standin = StandIn().start()
    return _byok_standin.url


def a_credential(world: World) -> ProviderCredential:
    return ProviderCredential.objects.create(
        project=world.project, provider="openai", api_key=PARITY_LLM_KEY, base_url=byok_provider(world)
    )


def byok_url(world: World) -> str:
    return f"/p/{world.slug}/settings/byok/"


# There is no BYOK API (SPEC §5): the page is the only surface.
BYOK_ROWS = [
    Row(
        "byok.doors.save_key",
        "byok.key_saved",
        ADMINS,
        setup=byok_provider,
        happened=lambda w, _: ProviderCredential.objects.filter(project=w.project).exists(),
        page=lambda c, w, base_url: c.post(
            byok_url(w),
            {"action": "save_key", "provider": "openai", "api_key": PARITY_LLM_KEY, "base_url": base_url},
        ),
    ),
    Row(
        "byok.doors.check_key",
        "byok.key_verified",
        ADMINS,
        setup=a_credential,
        happened=lambda w, k: ProviderCredential.objects.get(pk=k.pk).verified_at is not None,
        page=lambda c, w, k: c.post(byok_url(w), {"action": "verify", "credential_id": k.pk}),
    ),
    Row(
        "byok.doors.remove_key",
        "byok.key_removed",
        ADMINS,
        setup=a_credential,
        happened=lambda w, k: not ProviderCredential.objects.filter(pk=k.pk).exists(),
        page=lambda c, w, k: c.post(byok_url(w), {"action": "remove", "credential_id": k.pk}),
    ),
    Row(
        "byok.doors.set_mode",
        "byok.mode_changed",
        ADMINS,
        setup=a_credential,
        happened=lambda w, _: Project.objects.get(pk=w.project.pk).llm_mode == Project.LlmMode.BYOK,
        page=lambda c, w, _: c.post(byok_url(w), {"action": "mode", "mode": "byok", "provider": "openai"}),
    ),
]
ROWS += BYOK_ROWS


def a_conversation(world: World) -> Conversation:
    members_of_target(world)
    return Conversation.objects.create(project=world.project, title="Login coverage")


CHAT_ROWS = [
    Row(
        "qa.doors.create_conversation",
        "chat.created",
        MEMBERS,
        setup=members_of_target,
        happened=lambda w, _: Conversation.objects.filter(project=w.project).exists(),
        page=lambda c, w, _: c.post(f"/p/{w.slug}/chat/", {"action": "new"}),
        api=lambda a, w, _: a.post(f"/api/v1/p/{w.slug}/chats", json={}),
    ),
    Row(
        "qa.doors.rename_conversation",
        "chat.renamed",
        MEMBERS,
        setup=a_conversation,
        happened=lambda w, chat: Conversation.objects.get(pk=chat.pk).title == "Checkout",
        page=lambda c, w, chat: c.post(
            f"/p/{w.slug}/chat/{chat.pk}/", {"action": "rename", "title": "Checkout"}
        ),
        api=lambda a, w, chat: a.patch(f"/api/v1/p/{w.slug}/chats/{chat.pk}", json={"title": "Checkout"}),
    ),
    Row(
        "qa.doors.delete_conversation",
        "chat.deleted",
        MEMBERS,
        setup=a_conversation,
        happened=lambda w, chat: not Conversation.objects.filter(pk=chat.pk).exists(),
        page=lambda c, w, chat: c.post(f"/p/{w.slug}/chat/{chat.pk}/", {"action": "delete"}),
        api=lambda a, w, chat: a.delete(f"/api/v1/p/{w.slug}/chats/{chat.pk}"),
    ),
]
ROWS += CHAT_ROWS


def a_scenario(world: World) -> Scenario:
    members_of_target(world)
    return Scenario.objects.create(project=world.project, name="Login", steps=[])


def a_script(world: World) -> Script:
    scenario = a_scenario(world)
    return Script.objects.create(project=world.project, scenario=scenario, name="Seed", source="print(1)")


def a_collection(world: World) -> Collection:
    members_of_target(world)
    return Collection.objects.create(project=world.project, name="Smoke")


def scenarios_url(world: World, tail: str = "") -> str:
    return f"/p/{world.slug}/scenarios/{tail}"


def scenario_form(**fields) -> dict[str, str]:
    """The scenario page's form with no steps (the editor posts `steps-TOTAL`)."""
    return {
        "name": "Login",
        "status": "draft",
        "priority": "medium",
        "type": "api",
        "steps-TOTAL": "0",
        **fields,
    }


IMPORTED = json.dumps(
    {"format": "qodex.scenarios", "version": 1, "scenarios": [{"name": "Imported", "steps": []}]}
)


def scenario_named(world: World, name: str) -> bool:
    return Scenario.objects.filter(project=world.project, name=name).exists()


SCENARIO_ROWS = [
    Row(
        "qa.doors.create_scenario",
        "scenario.created",
        MEMBERS,
        setup=members_of_target,
        happened=lambda w, _: scenario_named(w, "Fresh"),
        page=lambda c, w, _: c.post(scenarios_url(w, "new/"), scenario_form(name="Fresh")),
        api=lambda a, w, _: a.post(f"/api/v1/p/{w.slug}/scenarios", json={"name": "Fresh"}),
    ),
    Row(
        "qa.doors.update_scenario",
        "scenario.updated",
        MEMBERS,
        setup=a_scenario,
        happened=lambda w, s: Scenario.objects.get(pk=s.pk).name == "Renamed",
        page=lambda c, w, s: c.post(scenarios_url(w, f"{s.pk}/"), scenario_form(name="Renamed")),
        api=lambda a, w, s: a.patch(f"/api/v1/p/{w.slug}/scenarios/{s.pk}", json={"name": "Renamed"}),
    ),
    Row(
        "qa.doors.duplicate_scenario",
        "scenario.duplicated",
        MEMBERS,
        setup=a_scenario,
        happened=lambda w, s: scenario_named(w, "Login (copy)"),
        page=lambda c, w, s: c.post(scenarios_url(w, f"{s.pk}/"), {"action": "duplicate"}),
        api=lambda a, w, s: a.post(f"/api/v1/p/{w.slug}/scenarios/{s.pk}/duplicate"),
    ),
    Row(
        "qa.doors.delete_scenario",
        "scenario.deleted",
        MEMBERS,
        setup=a_scenario,
        happened=lambda w, s: not Scenario.objects.filter(pk=s.pk).exists(),
        page=lambda c, w, s: c.post(scenarios_url(w, f"{s.pk}/delete/")),
        api=lambda a, w, s: a.delete(f"/api/v1/p/{w.slug}/scenarios/{s.pk}"),
    ),
    Row(
        "qa.doors.import_scenarios",
        "scenario.imported",
        MEMBERS,
        setup=members_of_target,
        happened=lambda w, _: scenario_named(w, "Imported"),
        page=lambda c, w, _: c.post(scenarios_url(w, "import/"), {"document": IMPORTED}),
        api=lambda a, w, _: a.post(f"/api/v1/p/{w.slug}/scenarios/import", json=json.loads(IMPORTED)),
    ),
    Row(
        "qa.doors.add_script",
        "script.created",
        MEMBERS,
        setup=a_scenario,
        happened=lambda w, s: Script.objects.filter(scenario=s, name="Helper").exists(),
        page=lambda c, w, s: c.post(
            scenarios_url(w, f"{s.pk}/"), {"action": "add_script", "name": "Helper", "language": "python"}
        ),
        api=lambda a, w, s: a.post(f"/api/v1/p/{w.slug}/scenarios/{s.pk}/scripts", json={"name": "Helper"}),
    ),
    Row(
        "qa.doors.update_script",
        "script.updated",
        MEMBERS,
        setup=a_script,
        happened=lambda w, script: Script.objects.get(pk=script.pk).source == "print(2)",
        page=lambda c, w, script: c.post(
            scenarios_url(w, f"{script.scenario_id}/"),
            {
                "action": "update_script",
                "script_id": script.pk,
                "name": "Seed",
                "language": "python",
                "source": "print(2)",
            },
        ),
        api=lambda a, w, script: a.patch(
            f"/api/v1/p/{w.slug}/scenarios/{script.scenario_id}/scripts/{script.pk}",
            json={"source": "print(2)"},
        ),
    ),
    Row(
        "qa.doors.delete_script",
        "script.deleted",
        MEMBERS,
        setup=a_script,
        happened=lambda w, script: not Script.objects.filter(pk=script.pk).exists(),
        page=lambda c, w, script: c.post(
            scenarios_url(w, f"{script.scenario_id}/"), {"action": "delete_script", "script_id": script.pk}
        ),
        api=lambda a, w, script: a.delete(
            f"/api/v1/p/{w.slug}/scenarios/{script.scenario_id}/scripts/{script.pk}"
        ),
    ),
    Row(
        "qa.doors.create_collection",
        "collection.created",
        MEMBERS,
        setup=members_of_target,
        happened=lambda w, _: Collection.objects.filter(project=w.project, name="Nightly").exists(),
        page=lambda c, w, _: c.post(scenarios_url(w, "collections/new/"), {"name": "Nightly"}),
        api=lambda a, w, _: a.post(f"/api/v1/p/{w.slug}/collections", json={"name": "Nightly"}),
    ),
    Row(
        "qa.doors.update_collection",
        "collection.updated",
        MEMBERS,
        setup=a_collection,
        happened=lambda w, col: Collection.objects.get(pk=col.pk).name == "Release",
        page=lambda c, w, col: c.post(
            scenarios_url(w, f"collections/{col.pk}/"),
            {"action": "save", "name": "Release", "description": ""},
        ),
        api=lambda a, w, col: a.patch(f"/api/v1/p/{w.slug}/collections/{col.pk}", json={"name": "Release"}),
    ),
    Row(
        "qa.doors.delete_collection",
        "collection.deleted",
        MEMBERS,
        setup=a_collection,
        happened=lambda w, col: not Collection.objects.filter(pk=col.pk).exists(),
        page=lambda c, w, col: c.post(scenarios_url(w, f"collections/{col.pk}/delete/")),
        api=lambda a, w, col: a.delete(f"/api/v1/p/{w.slug}/collections/{col.pk}"),
    ),
]
ROWS += SCENARIO_ROWS


def a_runnable_scenario(world: World) -> Scenario:
    """Members on the target project, an environment there and a scenario to run (nothing listens: the
    runs these rows start stay queued, no worker runs in these tests)."""
    an_environment(world)
    return Scenario.objects.create(
        project=world.project, name="Smoke", steps=[{"method": "GET", "target": "${baseUrl}/health"}]
    )


def a_run(world: World, **fields) -> TestRun:
    scenario = a_runnable_scenario(world)
    return TestRun.objects.create(
        project=world.project,
        scenario=scenario,
        scenario_ids=[scenario.pk],
        environment=Environment.objects.get(project=world.project),
        environment_name="Staging",
        **fields,
    )


def a_failed_run(world: World) -> TestRun:
    run = a_run(world, status=TestRun.Status.FAILED)
    run.step_results.create(position=0, scenario=run.scenario, name="Health", status="failed")
    return run


def a_finding(world: World) -> Finding:
    run = a_failed_run(world)
    return Finding.objects.create(
        project=world.project, title="Health › 500", fingerprint="f" * 64, test_run=run, scenario=run.scenario
    )


def runs_url(world: World, tail: str = "") -> str:
    return f"/api/v1/p/{world.slug}/test-runs{tail}"


RUN_ROWS = [
    Row(
        "qa.doors.start_run",
        "test_run.started",
        MEMBERS,
        setup=a_runnable_scenario,
        happened=lambda w, s: TestRun.objects.filter(project=w.project).exists(),
        page=lambda c, w, s: c.post(f"/p/{w.slug}/test-runs/start", {"scenario_id": s.pk}),
        api=lambda a, w, s: a.post(runs_url(w), json={"scenario_id": s.pk, "environment": "Staging"}),
    ),
    Row(
        "qa.doors.cancel_run",
        "test_run.cancelled",
        MEMBERS,
        setup=a_run,
        happened=lambda w, r: TestRun.objects.get(pk=r.pk).reason == "cancelled",
        page=lambda c, w, r: c.post(f"/p/{w.slug}/test-runs/{r.pk}/", {"action": "cancel"}),
        api=lambda a, w, r: a.post(runs_url(w, f"/{r.pk}/cancel")),
    ),
    # Re-running is a page button; CI starts a new run instead.
    Row(
        "qa.doors.rerun_failed",
        "test_run.rerun",
        MEMBERS,
        setup=a_failed_run,
        happened=lambda w, r: TestRun.objects.filter(project=w.project).count() == 2,
        page=lambda c, w, r: c.post(f"/p/{w.slug}/test-runs/{r.pk}/", {"action": "rerun"}),
    ),
    Row(
        "qa.doors.triage_finding",
        "finding.triaged",
        MEMBERS,
        setup=a_finding,
        happened=lambda w, f: Finding.objects.get(pk=f.pk).status == "fixed",
        page=lambda c, w, f: c.post(f"/p/{w.slug}/findings/{f.pk}/", {"status": "fixed"}),
        api=lambda a, w, f: a.patch(f"/api/v1/p/{w.slug}/findings/{f.pk}", json={"status": "fixed"}),
    ),
]
ROWS += RUN_ROWS


def a_webhook_secret(world: World) -> str:
    members_of_target(world)
    return WebhookSecret.for_project(world.project).secret


# The signing secret lives on the API keys page only.
ROWS.append(
    Row(
        "qa.doors.rotate_webhook_secret",
        "webhook.secret_rotated",
        ADMINS,
        setup=a_webhook_secret,
        happened=lambda w, old: WebhookSecret.objects.get(project=w.project).secret != old,
        page=lambda c, w, _: c.post(f"/p/{w.slug}/settings/api-keys/", {"action": "rotate_webhook_secret"}),
    )
)

# The switcher is a personal choice with no audit event: its own parity test below.
SWITCHERS = {"owner", "admin", "member", "viewer"}  # members of the project; org admins have no membership


@pytest.mark.parametrize("caller", SESSION_CALLERS)
def test_switching_the_active_environment_is_for_the_projects_members(world, caller):
    environment = an_environment(world)
    response = session(world, caller).post(env_url(world, environment, "activate/"))
    assert response.status_code == (302 if caller in SWITCHERS else 403)
    switched = ProjectMember.objects.filter(project=world.project, active_environment=environment).exists()
    assert switched is (caller in SWITCHERS)


# Doors whose permission is not a role on a project or organization, each tested where it lives.
NOT_ROLE_DRIVEN = {
    "projects.doors.create_workspace": "any verified person makes their own organization (tests/accounts)",
    "projects.doors.accept_invitation": "whoever holds the link accepts it (tests/projects/test_invitations)",
    "environments.doors.switch_environment": "no audit event: test_switching_the_active_environment_…",
    "byok.doors.set_limits": "staff only (is_staff), whatever the role (tests/byok/test_byok_page.py)",
    "qa.doors.post_message": "no audit event (messages are content): tests/qa/test_chat*.py",
    "qa.doors.record_reply": "no audit event; the chat calls it after post_message: tests/qa",
}

CASES = [
    pytest.param(row, caller, surface, id=f"{row.door.rsplit('.', 1)[1]}-{surface}-{caller}")
    for row in ROWS
    for surface in ("page", "api")
    if getattr(row, surface) is not None
    for caller in (SESSION_CALLERS if surface == "page" else EVERYONE)
]


@pytest.mark.parametrize(("row", "caller", "surface"), CASES)
def test_each_door_answers_every_caller_the_same_on_both_surfaces(world, cookie_site, row, caller, surface):
    world.cookie_site = cookie_site
    context = row.setup(world)
    events_before = AuditEvent.objects.filter(action=row.action).count()
    if surface == "page":
        response = row.page(session(world, caller), world, context)
    elif caller in KEY_CALLERS:
        response = row.api(ApiClient(world.keys[caller]), world, context)
    else:
        response = row.api(ApiClient(client=session(world, caller)), world, context)
    allowed = caller in row.allowed
    assert response.status_code < 500, response.content[:300]
    assert row.happened(world, context) is allowed, (
        caller,
        surface,
        response.status_code,
        response.content[:300],
    )
    written = AuditEvent.objects.filter(action=row.action).count() - events_before
    assert written == (1 if allowed else 0)
    if not allowed and surface == "api":
        assert response.status_code in (403, 404), response.content[:300]


def test_every_door_has_a_row():
    autodiscover_modules("doors")  # every app's doors.py registers its doors on import
    covered = {row.door for row in ROWS} | set(NOT_ROLE_DRIVEN)
    assert set(DOORS) <= covered, f"doors without a parity row: {sorted(set(DOORS) - covered)}"
    assert covered <= set(DOORS), f"rows for doors that don't exist: {sorted(covered - set(DOORS))}"


def test_each_row_writes_the_audit_action_its_door_declares():
    for row in ROWS:
        assert DOORS[row.door].action == row.action, row.door
