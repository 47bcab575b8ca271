"""`make run`'s server: runserver, then the demo login under Django's banner, where it stays in view.

Test runs execute off the request cycle: the serving process also runs the background worker (qa.worker:
two threads on the database task queue, and the sweep of runs a killed worker left), so a run started in
the demo runs. In production the worker is its own process, `manage.py run_worker`.

Offline by default: with DEBUG on and no QODEX_PLATFORM_API_KEY, LLM calls go to the stand-in provider
(byok/standin.py) started in a background thread of the serving process, so the playground answers.
"""

from django.conf import settings
from whitenoise.runserver_nostatic.management.commands.runserver import Command as RunserverCommand

from byok.standin import StandIn
from projects.management.commands.seed_demo import CAST, DEMO_EMAIL, DEMO_PASSWORD
from qa.worker import start_worker

STANDIN_KEY = "sk-offline-demo-standin-key"  # not a secret: the stand-in takes any key
STANDIN_CHUNK_DELAY = 0.08  # seconds between streamed pieces, so a demo shows the reply streaming in


def start_offline_llm() -> StandIn | None:
    """With DEBUG on and no platform key, start the stand-in and point the platform at it; else None."""
    if not settings.DEBUG or settings.QODEX_PLATFORM_API_KEY:
        return None
    standin = StandIn().start()
    standin.behave(chunk_delay=STANDIN_CHUNK_DELAY)
    settings.QODEX_PLATFORM_PROVIDER = "standin"  # its models are priced as `standin` in the price file
    settings.QODEX_PLATFORM_API_KEY = STANDIN_KEY
    settings.QODEX_PLATFORM_BASE_URL = standin.url
    return standin


class Command(RunserverCommand):
    """The runserver `manage.py runserver` is here (whitenoise's, static files through the middleware)."""

    help = (
        "Serve like runserver with the background worker; once the server listens, print the demo login "
        "(make run). With DEBUG on and no QODEX_PLATFORM_API_KEY, LLM calls go to the offline stand-in."
    )
    standin = None
    worker = None

    def inner_run(self, *args, **options):
        # Here, not in handle(): under the autoreloader this is the process that serves.
        self.standin = start_offline_llm()
        self.worker = start_worker(threads=2)
        try:
            super().inner_run(*args, **options)
        finally:
            self.worker.stop(timeout=5)
            if self.standin is not None:
                self.standin.stop()

    def on_bind(self, server_port):
        super().on_bind(server_port)
        others = ", ".join(email for email, _, _ in CAST)
        offline = (
            f"LLM calls go to the offline stand-in at {self.standin.url} (no QODEX_PLATFORM_API_KEY set).\n"
            if self.standin is not None
            else ""
        )
        self.stdout.write(
            self.style.SUCCESS(f"\nDemo login: {DEMO_EMAIL} / {DEMO_PASSWORD}  (staff too: /admin/)")
            + f"\nOther demo users, same password: {others}\n"
            + "Test runs execute on the background worker running in this process (2 threads).\n"
            + offline
        )
        self.stdout.flush()
