"""Demo data for `make run`: idempotent, so running it twice changes nothing."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import User
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
