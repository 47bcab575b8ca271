"""The playground in Chromium: a member types a prompt, the reply streams in, then its figures appear.

The live server runs in this process, so the platform is pointed at a stand-in started here (the
`platform` fixture of tests/e2e/conftest.py).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.pages import sign_in
from usage.models import LlmUsageLog

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
PROMPT = "Which pages of the shop need a login?"


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_a_member_types_a_prompt_and_the_reply_streams_in_with_its_figures(
    page, cast, platform, js_errors, viewport
):
    if viewport:
        page.set_viewport_size(viewport)
    path = f"/p/{cast.project.slug}/playground/"
    sign_in(page, cast.member, path)
    page.get_by_label("System prompt").fill("Answer in one sentence.")
    page.get_by_label("Prompt", exact=True).fill(PROMPT)
    page.get_by_label("Max tokens").fill("300")
    page.get_by_role("button", name="Send").click()

    reply = page.locator("[data-reply]")
    # Part of the reply shows while the stream is still open (aria-busy), before any figure.
    expect(reply).to_contain_text("Stand-in")
    expect(reply).to_have_attribute("aria-busy", "true")
    expect(page.locator("[data-figure=cost]")).to_have_count(0)
    expect(page.get_by_role("button", name="Send")).to_be_disabled()

    expect(page.locator("[data-figure=cost]")).to_have_text(re.compile(r"^\$0\.\d{8}$"))
    expect(reply).to_have_text(f"Stand-in reply to: {PROMPT}")
    expect(reply).not_to_have_attribute("aria-busy", "true")
    row = LlmUsageLog.objects.get(project=cast.project)
    expect(page.locator("[data-figure=output]")).to_have_text(str(row.output_tokens))
    expect(page.get_by_text(f"{row.latency_ms} ms")).to_be_visible()
    assert (row.source, row.user_id) == ("playground", cast.member.pk)
    # The prompt stays in the form, ready to send again; the URL never held it.
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(PROMPT)
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    assert page.url.endswith(path)
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    assert js_errors == []


def test_a_refusal_in_the_browser_shows_the_message_and_keeps_the_prompt(page, cast, platform, js_errors):
    cast.project.cap_5h_usd = 0
    cast.project.save(update_fields=["cap_5h_usd"])
    sign_in(page, cast.member, f"/p/{cast.project.slug}/playground/")
    page.get_by_label("Prompt", exact=True).fill(PROMPT)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text("reached its 5-hour platform limit")
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(PROMPT)
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    assert platform.requests == []
    assert js_errors == []
