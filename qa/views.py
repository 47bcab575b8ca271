"""The chat pages (SPEC §9): /p/<slug>/chat/ lists a project's conversations, /p/<slug>/chat/<id>/ shows
one and sends messages to the project's assistant through the gateway (`source=chat`, qa/assistant.py);
the API mirror (qa/api.py) does the same through the same doors.

Sending follows the playground (byok/playground.py): under htmx the POST saves the message through its
door, holds the turn in the session and answers the panel with a `text/event-stream` URL whose GET streams
the reply through gateway.stream() and then saves it through a second door; without JavaScript the POST
calls gateway.complete() and redirects (post/redirect/get). A refused call keeps the text in the box and
leaves the message in the history, marked as not answered.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages as flash
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse

from byok import gateway
from byok.gateway import LlmError
from byok.playground import hold, sse_deltas, sse_event, take
from projects.access import Actor, ProjectAccess, project_view
from projects.models import Project
from qa import doors
from qa.assistant import next_reply
from qa.models import Conversation
from qodex.doors import Invalid, NotFound, show_on_form

SESSION_KEY = "chat"
EXPIRED = "This message expired or was already answered. Send it again."


class MessageForm(forms.Form):
    text = forms.CharField(
        label="Message",
        max_length=doors.MESSAGE_MAX,
        error_messages={"required": "Write a message to send."},
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "Ask about this project’s tests, findings, APIs…"}
        ),
    )


@project_view()
def conversations(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    """The list, most recently active first; a POST (members and up) starts a new conversation."""
    if request.method == "POST":
        if request.POST.get("action") != "new":
            flash.error(request, "Unknown action.")
            return redirect("projects:chat", slug=project.slug)
        conversation = doors.create_conversation(Actor.of(request), project, request.POST.get("title", ""))
        return redirect("projects:chat_conversation", slug=project.slug, pk=conversation.pk)
    listed = (
        Conversation.objects.for_project(project)
        .select_related("created_by")
        .annotate(message_count=Count("messages"))
        .order_by("-updated_at", "-pk")
    )
    return render(request, "qa/conversations.html", {"conversations": listed})


@project_view()
def conversation(request: HttpRequest, project: Project, access: ProjectAccess, pk: int) -> HttpResponse:
    """One conversation; POSTs (members and up) send a message, rename or delete it."""
    chat = get_object_or_404(Conversation.objects.for_project(project), pk=pk)
    form = MessageForm()
    context = {"conversation": chat, "refusal": "", "stream_url": "", "pending": None}
    if request.method == "POST":
        actor = Actor.of(request)
        action = request.POST.get("action", "send")
        if action == "rename":
            try:
                doors.rename_conversation(actor, project, chat, request.POST.get("title", ""))
            except Invalid as refusal:
                flash.error(
                    request, next(iter(refusal.fields.values()))[0] if refusal.fields else refusal.message
                )
            else:
                flash.success(request, "Conversation renamed.")
            return redirect("projects:chat_conversation", slug=project.slug, pk=chat.pk)
        if action == "delete":
            doors.delete_conversation(actor, project, chat)
            flash.success(request, f"Deleted “{chat.title}”.")
            return redirect("projects:chat", slug=project.slug)
        if action != "send":
            flash.error(request, "Unknown action.")
            return redirect("projects:chat_conversation", slug=project.slug, pk=chat.pk)
        form = MessageForm(request.POST)
        streamed = request.headers.get("HX-Request") == "true"
        sent = None
        if form.is_valid():
            try:
                sent = doors.post_message(actor, project, chat, form.cleaned_data["text"])
            except Invalid as refusal:
                show_on_form(form, refusal, "text")
        if sent is not None and streamed:
            key = hold(request, project, {"conversation": chat.pk, "message": sent.pk}, SESSION_KEY)
            context["stream_url"] = reverse(
                "projects:chat_stream", kwargs={"slug": project.slug, "pk": chat.pk, "key": key}
            )
            context["pending"] = sent.pk
        elif sent is not None:
            try:
                reply = gateway.complete(project, user=request.user, **next_reply(project, chat))
            except LlmError as refused:
                context["refusal"] = refused.message  # the text stays in the box below
            else:
                doors.record_reply(actor, project, chat, reply.text, reply.usage)
                return redirect("projects:chat_conversation", slug=project.slug, pk=chat.pk)
        chat.refresh_from_db(fields=["title", "updated_at"])
        # The htmx panel renders without project_base.html, which names `project` and `access` for pages.
        context.update(form=form, project=project, access=access, messages_list=chat.history())
        template = "qa/conversation_panel.html" if streamed else "qa/conversation.html"
        status = 200 if streamed or sent is not None else 400
        return render(request, template, context, status=status)
    context.update(form=form, messages_list=chat.history())
    return render(request, "qa/conversation.html", context)


@project_view(read="project:write")  # a GET that spends: members and up, like the POST that led here
def conversation_stream(
    request: HttpRequest, project: Project, access: ProjectAccess, pk: int, key: str
) -> HttpResponse:
    """The reply as server-sent events (as the playground's): `delta` per piece of text, then `done`,
    or `refusal` with a sentence. Each held message is answered once."""
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    held = take(request, project, key, SESSION_KEY)
    chat = Conversation.objects.for_project(project).filter(pk=pk).first()
    actor = Actor.of(request)

    def events():
        if held is None or chat is None or held["conversation"] != chat.pk:
            yield sse_event("refusal", {"message": EXPIRED})
            return
        try:
            reply = gateway.stream(project, user=request.user, **next_reply(project, chat))
            yield from sse_deltas(reply)
        except LlmError as refused:
            yield sse_event("refusal", {"message": refused.message})
            return
        try:
            doors.record_reply(actor, project, chat, reply.result.text, reply.result.usage)
        except NotFound as gone:
            yield sse_event("refusal", {"message": gone.message})
            return
        html = render_to_string("qa/reply_figures.html", {"usage": reply.result.usage})
        yield sse_event("done", {"html": html})

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx would otherwise hold the deltas back
    return response
