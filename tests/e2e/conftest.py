"""Browser tests: the system Chromium (never a downloaded one) driving pytest-django's live server.

The live server runs in a thread of this process, so the tests read its emails from `mailoutbox` and
its rows through the ORM. A failing test leaves a full-page screenshot in test-results/<test>.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from byok.standin import StandIn
from qodex.chromium import CHROMIUM_ARGS, CHROMIUM_PATH
from usage.models import ModelPrice

CHROMIUM = Path(CHROMIUM_PATH)
RESULTS_DIR = Path(__file__).resolve().parents[2] / "test-results"
DESKTOP = {"width": 1280, "height": 800}
TIMEOUT_MS = 10_000


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (`item.rep_call`) so the page fixture can see a failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# Package scope: one Chromium for every browser test, closed (with Playwright's event loop) as soon as the
# last of them ends, so the tests that run after tests/e2e/ see a thread without a running loop.
@pytest.fixture(scope="package")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian package `chromium`)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running in this thread for as long as it is open;
    # Django's ORM would then refuse every query from the tests with SynchronousOnlyOperation, although
    # nothing runs concurrently with them. The allowance lasts exactly as long as Playwright runs.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()


@pytest.fixture
def new_context(browser, live_server):
    """`new_context()` opens another browser profile (a second person); all are closed after the test."""
    contexts = []

    def _new(**options):
        context = browser.new_context(base_url=live_server.url, viewport=DESKTOP, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield _new
    for context in contexts:
        context.close()


@pytest.fixture
def js_errors() -> list:
    """Uncaught JavaScript errors on `page`; journeys assert it stays empty."""
    return []


@pytest.fixture
def page(request, new_context, js_errors) -> Iterator:
    """A fresh page at 1280×800 whose relative URLs go to the live server."""
    screenshot = RESULTS_DIR / (re.sub(r"[^\w.-]+", "_", request.node.name) + ".png")
    screenshot.unlink(missing_ok=True)  # test-results/ only ever shows the latest run's failures
    page = new_context().new_page()
    page.on("pageerror", lambda error: js_errors.append(error))
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        RESULTS_DIR.mkdir(exist_ok=True)
        try:
            page.screenshot(path=str(screenshot), full_page=True)
        except Exception as error:  # a crashed page must not hide the test's own failure
            print(f"No screenshot for {request.node.nodeid}: {error}")


@pytest.fixture
def platform(settings):
    """The platform's LLM provider is a stand-in started here (the live server runs in this process),
    streaming slowly enough to see a reply arrive piece by piece, with a price for its default model."""
    # Its own price: live-server tests flush the tables, the prices the migration loaded included.
    ModelPrice.objects.create(
        provider="openai",
        model="gpt-4o-mini",
        input_per_mtok=Decimal("0.15"),
        cached_input_per_mtok=Decimal("0.075"),
        output_per_mtok=Decimal("0.60"),
        effective_from=timezone.now() - timedelta(days=1),
    )
    with StandIn() as server:
        server.behave(chunk_delay=0.4)
        settings.QODEX_PLATFORM_PROVIDER = "openai"
        settings.QODEX_PLATFORM_API_KEY = "sk-platform-e2e-key-0000000000"
        settings.QODEX_PLATFORM_BASE_URL = server.url
        settings.QODEX_LLM_MAX_RETRIES = 0
        yield server
