"""The chat in Chromium (SPEC §9): a member starts a conversation, the assistant's reply streams in from the
stand-in, then they rename and delete it; a reply that breaks off mid-stream keeps the question."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from qa.models import Conversation, Message
from tests.e2e.pages import sign_in
from usage.models import LlmUsageLog

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
QUESTION = "Which endpoints of the shop need a login?"


def message_box(page):
    return page.get_by_role("textbox", name="Message")


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_a_member_starts_a_conversation_gets_a_streamed_reply_renames_and_deletes_it(
    page, cast, platform, js_errors, viewport
):
    if viewport:
        page.set_viewport_size(viewport)
    chats = f"/p/{cast.project.slug}/chat/"
    sign_in(page, cast.member, chats)
    expect(page.get_by_text("No conversations yet.")).to_be_visible()
    page.get_by_role("button", name="New conversation").click()
    page.wait_for_url(re.compile(r"/chat/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("New conversation")
    expect(page.get_by_text("No messages yet.")).to_be_visible()

    message_box(page).fill(QUESTION)
    page.get_by_role("button", name="Send").click()
    question = page.locator(".chat-user").last
    expect(question).to_contain_text(QUESTION)
    reply = page.locator("[data-reply]")
    # Part of the reply shows while the stream is still open, before its figures.
    expect(reply).to_contain_text("Stand-in")
    expect(reply).to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    expect(page.locator(".chat-figures")).to_contain_text(" out · ")
    expect(reply).to_have_text(f"Stand-in reply to: {QUESTION}")
    expect(reply).not_to_have_attribute("aria-busy", "true")
    expect(message_box(page)).to_have_value("")  # answered: the box is ready for the next one
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    # The conversation took the question as its title, in place.
    expect(page.get_by_role("heading", level=1)).to_have_text(QUESTION)
    expect(page).to_have_title(re.compile(f"^{re.escape(QUESTION)} · Chat"))
    chat = Conversation.objects.get(project=cast.project)
    row = LlmUsageLog.objects.get(project=cast.project)
    assert (row.source, row.user_id, row.outcome) == ("chat", cast.member.pk, "ok")
    assert Message.objects.get(conversation=chat, role="assistant").usage == row
    assert fits(page)

    page.locator(".chat-rename summary").click()
    page.get_by_label("Title").fill("Login coverage")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Conversation renamed.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Login coverage")
    # After the reload the history is the saved one.
    expect(page.locator(".chat-assistant .chat-text")).to_have_text(f"Stand-in reply to: {QUESTION}")

    page.get_by_role("link", name="All conversations").click()
    row_of_chat = page.locator(f"[data-conversation='{chat.pk}']")
    expect(row_of_chat).to_contain_text("Login coverage")
    expect(row_of_chat).to_contain_text("2")
    assert fits(page)
    row_of_chat.get_by_role("link", name="Login coverage").click()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(f"**{chats}")
    expect(page.get_by_text("Deleted “Login coverage”.")).to_be_visible()
    expect(page.get_by_text("No conversations yet.")).to_be_visible()
    assert not Conversation.objects.filter(pk=chat.pk).exists()
    assert LlmUsageLog.objects.filter(project=cast.project).count() == 1  # the spend stays
    assert js_errors == []


def test_a_reply_that_breaks_off_mid_stream_shows_why_and_keeps_the_question(page, cast, platform, js_errors):
    platform.behave(chunk_delay=0.4, stream_fault="cut")
    chat = Conversation.objects.create(project=cast.project, title="Login coverage")
    sign_in(page, cast.member, f"/p/{cast.project.slug}/chat/{chat.pk}/")
    message_box(page).fill(QUESTION)
    page.get_by_role("button", name="Send").click()
    expect(page.locator("[data-reply]")).to_contain_text("Stand-in")  # part of the reply arrived
    expect(page.get_by_role("alert")).to_contain_text(
        "The connection to the provider dropped in the middle of the reply."
    )
    expect(page.locator("[data-reply]")).to_be_hidden()  # the broken reply is not shown as an answer
    expect(page.get_by_text("Not answered: send it again to retry")).to_be_visible()
    expect(message_box(page)).to_have_value(QUESTION)
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    assert [row.outcome for row in LlmUsageLog.objects.filter(project=cast.project)] == ["error"]

    # Sending it again once the provider behaves answers the same message.
    platform.behave(chunk_delay=0.1)
    page.get_by_role("button", name="Send").click()
    expect(page.locator("[data-reply]")).to_have_text(f"Stand-in reply to: {QUESTION}")
    expect(message_box(page)).to_have_value("")
    roles = [message.role for message in Message.objects.filter(conversation=chat).order_by("pk")]
    assert roles == ["user", "assistant"]
    assert js_errors == []
