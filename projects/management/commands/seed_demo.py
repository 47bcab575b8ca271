"""Demo data for `make run`: idempotent, so running it twice changes nothing."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from environments.models import Environment
from projects.models import Organization, OrgMembership, Project, ProjectMember
from projects.roles import Role

DEMO_PASSWORD = "qodex-demo-2026"
DEMO_EMAIL = "demo@qodex.local"
CAST = [
    ("admin@qodex.local", "Ada Admin", Role.ADMIN),
    ("member@qodex.local", "Max Member", Role.MEMBER),
    ("viewer@qodex.local", "Vic Viewer", Role.VIEWER),
]


class Command(BaseCommand):
    help = "Create the demo user, organization, two projects and a member of each role (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        demo = self._user(DEMO_EMAIL, "Demo User", staff=True)
        org = Organization.objects.filter(slug="acme").first() or Organization.objects.create(
            name="Acme", slug="acme"
        )
        OrgMembership.objects.get_or_create(
            user=demo, organization=org, defaults={"role": OrgMembership.OrgRole.OWNER}
        )

        shop = org.default_project
        if shop.name == "Default":
            shop.name = "Acme Shop"
            shop.save(update_fields=["name"])
        api = Project.objects.filter(slug="acme-api").first() or Project.objects.create(
            organization=org, name="Acme API", slug="acme-api"
        )
        for project in (shop, api):
            ProjectMember.objects.get_or_create(user=demo, project=project, defaults={"role": Role.OWNER})
            for email, name, role in CAST:
                ProjectMember.objects.get_or_create(
                    user=self._user(email, name), project=project, defaults={"role": role}
                )

        self._environments(api, demo)

        self.stdout.write(
            self.style.SUCCESS(f"Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}  (also staff: /admin/)")
        )
        self.stdout.write(f"Other demo users ({DEMO_PASSWORD}): " + ", ".join(email for email, _, _ in CAST))

    def _user(self, email: str, name: str, staff: bool = False) -> User:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(email, DEMO_PASSWORD, name=name, is_staff=staff)
        if not user.email_verified_at:
            user.email_verified_at = timezone.now()
            user.save(update_fields=["email_verified_at"])
        return user

    def _environments(self, project: Project, demo: User) -> None:
        """Three environments of Acme API, one per preset; the demo user works against Staging."""
        demos = [
            (
                "Production",
                "production",
                {"base_url": "https://api.acme.example", "auth_type": "static_token"},
            ),
            (
                "Staging",
                "staging",
                {
                    "base_url": "https://staging.acme.example",
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
            environment = Environment(project=project, name=name, updated_by=demo, **fields)
            environment.apply_preset(preset)
            if name == "Production":
                environment.auth_token = "demo-production-token-7f3a"
            if name == "Staging":
                environment.auth_password = "demo-staging-password-9c1d"
                environment.set_variable("tenantId", "acme")
                environment.set_variable("apiKey", "demo-api-key-42ab", secret=True)
            environment.save()
        staging = Environment.objects.for_project(project).filter(name__iexact="Staging").first()
        ProjectMember.objects.filter(project=project, user=demo, active_environment=None).update(
            active_environment=staging
        )
