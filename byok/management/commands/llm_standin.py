"""`manage.py llm_standin`: the OpenAI-compatible stand-in (byok/standin.py) in the foreground, offline."""

import threading

from django.core.management.base import BaseCommand, CommandError

from byok.standin import StandIn


class Command(BaseCommand):
    help = (
        "Serve the OpenAI-compatible LLM stand-in on 127.0.0.1 until Ctrl-C, for offline demos. "
        "Point an SDK at the printed base URL with any API key; switches go in the model name, "
        "e.g. 'gpt-4o-mini?latency=2' (see byok/standin.py)."
    )
    requires_system_checks = []  # serves no Django code: start at once, even before migrating

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 = any free one)")

    def handle(self, *args, port: int, **options) -> None:
        if not 0 <= port <= 65535:
            raise CommandError(f"--port must be between 0 and 65535, not {port}.")
        server = StandIn(port)
        try:
            server.start()
        except OSError as error:
            raise CommandError(f"Cannot listen on 127.0.0.1:{port}: {error.strerror or error}.") from None
        self.stdout.write(f"LLM stand-in serving at {server.url} (any API key; Ctrl-C to stop)")
        self.stdout.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
