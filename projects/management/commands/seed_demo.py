"""Demo data for `make run`: idempotent, so running it again creates nothing.

The default project, Acme Shop, has something on every page: environments (one per preset, Staging with
an API login), memories, members of every role who joined through invitations, a pending invitation, a
project-locked CI key, two scenarios in a collection, and the audit log those leave. Changes go through
the doors the pages use (projects.doors, qa.doors), acting as the demo user; no email is sent. `make run`
prints the login (`manage.py rundemo`).
"""

from django.core.management.base import BaseCommand
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from accounts.models import User
from environments.models import Environment
from projects import audit, doors
from projects.access import Actor
from projects.models import ApiKey, Organization, OrgMembership, Project, ProjectMember
from projects.roles import Role
from qa import doors as qa_doors
from qa.models import Memory

DEMO_PASSWORD = "qodex-demo-2026"
DEMO_EMAIL = "demo@qodex.local"
CAST = [
    ("admin@qodex.local", "Ada Admin", Role.ADMIN),
    ("member@qodex.local", "Max Member", Role.MEMBER),
    ("viewer@qodex.local", "Vic Viewer", Role.VIEWER),
]
PENDING_INVITATION = ("newcomer@acme.example", Role.MEMBER)
CI_KEY_NAME = "CI (GitHub Actions)"
MEMORIES = [
    (
        "Checkout needs a signed-in customer: guest checkout was removed in the spring release.",
        {"area": "checkout", "source": "product"},
    ),
    (
        "Staging resets its database every night at 02:00 UTC; don't rely on data created the day before.",
        {"area": "environments", "source": "ops"},
    ),
    (
        "Discount codes are case-insensitive: SUMMER25 and summer25 are the same code.",
        {"area": "pricing"},
    ),
    (
        "On Staging, payments run in the provider's test mode; card 4242 4242 4242 4242 always succeeds.",
        {"area": "payments", "source": "ops"},
    ),
]
ORG_MEMORY = "Acme's APIs answer errors as JSON with a `code` and a `message`; a 500 is always a bug."
SCENARIOS = [
    {
        "name": "Smoke: catalogue answers",
        "description": "The product list and one product answer, as JSON, to a signed-in customer.",
        "status": "active",
        "priority": "critical",
        "tags": ["smoke", "catalogue"],
        "steps": [
            {
                "name": "List products",
                "method": "GET",
                "target": "${API_BASE_URL}/products",
                "expected_status": 200,
                "captures": [{"as": "productId", "from": "$.data[0].id"}],
                "expectations": [{"kind": "jsonpath", "path": "$.data", "exists": True}],
            },
            {
                "name": "Read the first product",
                "method": "GET",
                "target": "${API_BASE_URL}/products/${productId}",
                "expected_status": 200,
                "expectations": [{"kind": "jsonpath", "path": "$.data.id", "exists": True}],
            },
        ],
    },
    {
        "name": "Cart: add and remove an item",
        "description": "Writes to the cart, so it runs only where destructive steps are allowed.",
        "status": "draft",
        "priority": "high",
        "tags": ["cart"],
        "steps": [
            {
                "name": "Add an item",
                "method": "POST",
                "target": "${API_BASE_URL}/cart/items",
                "body": {"product_id": 1, "quantity": 2},
                "expected_status": 201,
                "captures": [{"as": "itemId", "from": "$.data.id"}],
            },
            {
                "name": "Remove it",
                "method": "DELETE",
                "target": "${API_BASE_URL}/cart/items/${itemId}",
                "expected_status": 204,
                "destructive": True,
            },
        ],
    },
]
DEMO_COLLECTION = "Release checks"


def acting_as(user: User) -> Actor:
    """The demo user at the pages, password just confirmed: the doors record them as the actor."""
    return Actor(user=user, sudo=True, site="http://127.0.0.1:8000")


class Command(BaseCommand):
    help = "Create the demo organization, its projects, people and content (idempotent)."

    @transaction.atomic
    @override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")  # no invitations sent
    def handle(self, *args, **options):
        self.created = 0
        demo = self._user(DEMO_EMAIL, "Demo User", staff=True)
        request = acting_as(demo)
        org = Organization.objects.filter(slug="acme").first()
        if org is None:
            org = Organization.objects.create(name="Acme", slug="acme")
            self.created += 1
        _, joined = OrgMembership.objects.get_or_create(
            user=demo, organization=org, defaults={"role": OrgMembership.OrgRole.OWNER}
        )
        self.created += joined

        shop = org.default_project
        if shop.name == "Default":
            doors.rename_project(request, shop, "Acme Shop")
            self.created += 1
        api = Project.objects.filter(slug="acme-api").first()
        if api is None:
            api = Project.objects.create(organization=org, name="Acme API", slug="acme-api")
            self.created += 1

        for project in (shop, api):
            _, joined = ProjectMember.objects.get_or_create(
                user=demo, project=project, defaults={"role": Role.OWNER}
            )
            self.created += joined
            for email, name, role in CAST:
                self._join(project, self._user(email, name), role, request)

        self._invite(shop, *PENDING_INVITATION, request)
        self._environments(shop, "shop.acme.example", request)
        self._environments(api, "api.acme.example", request)
        self._memories(shop, demo)
        self._ci_key(shop, request)
        self._scenarios(shop, request)

        if self.created:
            self.stdout.write(self.style.SUCCESS(f"Demo data: created {self.created} objects."))
        else:
            self.stdout.write("Demo data already in place.")

    def _user(self, email: str, name: str, staff: bool = False) -> User:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(email, DEMO_PASSWORD, name=name, is_staff=staff)
            self.created += 1
        if not user.email_verified_at:
            user.email_verified_at = timezone.now()
            user.save(update_fields=["email_verified_at"])
        return user

    def _invite(self, project: Project, email: str, role: str, request: Actor):
        """An invitation as the members page makes one (the email goes nowhere)."""
        if project.invitations.filter(email__iexact=email).exists():
            return None
        invitation = doors.invite_member(request, project, email, role)
        self.created += 1
        return invitation

    def _join(self, project: Project, user: User, role: str, request: Actor) -> None:
        """Members arrive as on the real site: invited, then accepting the link."""
        if ProjectMember.objects.filter(project=project, user=user).exists():
            return
        invitation = self._invite(project, user.email, role, request)
        if invitation is None:  # invited before, never accepted: leave it as it is
            return
        doors.accept_invitation(Actor(user=user), invitation)
        self.created += 1

    def _environments(self, project: Project, host: str, request: Actor) -> None:
        """One environment per preset; Staging logs in through an API. The demo user works on Staging."""
        demos = [
            ("Production", "production", {"base_url": f"https://{host}", "auth_type": "static_token"}),
            (
                "Staging",
                "staging",
                {
                    "base_url": f"https://staging.{host}",
                    "auth_type": "api_login",
                    "auth_email": "qa@acme.example",
                    "api_login_config": {
                        "method": "POST",
                        "url": "${apiBaseUrl}/login",
                        "headers": {},
                        "body": {"email": "${authEmail}", "password": "${authPassword}"},
                        "token_path": "$.data.token",
                    },
                },
            ),
            ("Local", "local", {"base_url": "http://localhost:3000", "auth_type": "none"}),
        ]
        for name, preset, fields in demos:
            if Environment.objects.for_project(project).filter(name__iexact=name).exists():
                continue
            environment = Environment(project=project, name=name, updated_by=request.user, **fields)
            environment.apply_preset(preset)
            if name == "Production":
                environment.auth_token = "demo-production-token-7f3a"
            if name == "Staging":
                environment.auth_password = "demo-staging-password-9c1d"
                environment.set_variable("tenantId", "acme")
                environment.set_variable("apiKey", "demo-api-key-42ab", secret=True)
            environment.full_clean()
            environment.save()
            audit.record(
                request,
                "environment.created",
                project=project,
                target=environment.name,
                details={"preset": preset, "auth_type": environment.auth_type},
            )
            self.created += 1
        staging = Environment.objects.for_project(project).filter(name__iexact="Staging").first()
        ProjectMember.objects.filter(project=project, user=request.user, active_environment=None).update(
            active_environment=staging
        )

    def _memories(self, project: Project, demo: User) -> None:
        for content, metadata in MEMORIES:
            if not Memory.objects.for_project(project).filter(content=content).exists():
                qa_doors.add_memory(acting_as(demo), project, content, metadata)
                self.created += 1
        if not Memory.objects.org_wide(project.organization).filter(content=ORG_MEMORY).exists():
            qa_doors.add_memory(acting_as(demo), project.organization, ORG_MEMORY)
            self.created += 1

    def _scenarios(self, project: Project, request: Actor) -> None:
        """Two scenarios (an active smoke test, a draft that writes) and a collection of both."""
        from qa.models import Collection, Scenario

        for data in SCENARIOS:
            if not Scenario.objects.for_project(project).filter(name__iexact=data["name"]).exists():
                qa_doors.create_scenario(request, project, data)
                self.created += 1
        if not Collection.objects.for_project(project).filter(name__iexact=DEMO_COLLECTION).exists():
            scenarios = Scenario.objects.for_project(project).filter(name__in=[d["name"] for d in SCENARIOS])
            qa_doors.create_collection(
                request,
                project,
                {
                    "name": DEMO_COLLECTION,
                    "scenario_ids": list(scenarios.order_by("pk").values_list("pk", flat=True)),
                },
            )
            self.created += 1

    def _ci_key(self, project: Project, request: Actor) -> None:
        """A project-locked write key, as the API keys page issues one; its raw value is not kept."""
        if ApiKey.objects.active().filter(project=project, name=CI_KEY_NAME).exists():
            return
        doors.create_api_key(
            request, project.organization, project=project, name=CI_KEY_NAME, scope=ApiKey.Scope.WRITE
        )
        self.created += 1
