"""`make run`'s server: runserver, then the demo login under Django's banner, where it stays in view."""

from whitenoise.runserver_nostatic.management.commands.runserver import Command as RunserverCommand

from projects.management.commands.seed_demo import CAST, DEMO_EMAIL, DEMO_PASSWORD


class Command(RunserverCommand):
    """The runserver `manage.py runserver` is here (whitenoise's, static files through the middleware)."""

    help = "Serve like runserver; once the server listens, print the demo login (make run)."

    def on_bind(self, server_port):
        super().on_bind(server_port)
        others = ", ".join(email for email, _, _ in CAST)
        self.stdout.write(
            self.style.SUCCESS(f"\nDemo login: {DEMO_EMAIL} / {DEMO_PASSWORD}  (staff too: /admin/)")
            + f"\nOther demo users, same password: {others}\n"
        )
        self.stdout.flush()
