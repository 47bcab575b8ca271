"""The playground (SPEC §9): one prompt to the project's model, the reply streamed in, with its tokens,
latency and cost.

Not a door: it changes no state of the project. The only thing it writes is the gateway's usage row (the
spend record every LLM call leaves), so it calls byok.gateway directly, as the chat will.

With JavaScript, the form is posted by htmx; the answer stores the request in the session under a random
id (prompts can hold secrets, so never in a URL) and opens a `text/event-stream` GET that streams the
reply through gateway.stream(). Without it, the POST calls gateway.complete() and renders the whole reply.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse

from byok import gateway
from byok.gateway import LlmError
from byok.models import Provider, ProviderCredential
from byok.providers import DEFAULT_MODELS
from projects.access import ProjectAccess, project_view
from projects.models import Project
from usage.models import LlmUsageLog, ModelPrice

SOURCE = LlmUsageLog.Source.PLAYGROUND
SESSION_KEY = "playground"
PENDING_SECONDS = 300  # a posted prompt waits this long for its stream to open
STANDIN = "standin"  # the offline stand-in provider (byok/standin.py; `make run` without a platform key)
STANDIN_LABEL = "offline demo model (stand-in)"
PROMPT_MAX = 50_000
EXPIRED = "This prompt expired or was already answered. Send it again."


@dataclass(frozen=True)
class Models:
    """What the picker offers: the funding provider's priced models and the credential's default."""

    provider: str
    names: list[str]
    default: str
    funding: str  # a sentence: who pays and where calls go

    def label(self, name: str) -> str:
        return f"{name} — {STANDIN_LABEL}" if self.provider == STANDIN else name


def models_for(project: Project) -> Models:
    """The picker's short list, from the price table (seeded from usage/prices/prices.json) and the
    project's credential: nothing is asked of the provider on page load."""
    default = ""
    if project.llm_mode == Project.LlmMode.BYOK:
        provider = project.llm_provider
        credential = (
            ProviderCredential.objects.for_project(project).filter(provider=provider).first()
            if provider
            else None
        )
        default = credential.default_model if credential else ""
        funding = f"Calls use this project’s own {_provider_label(provider)} key."
    elif project.llm_mode == Project.LlmMode.CODEX_POOL:
        provider = settings.QODEX_PLATFORM_PROVIDER
        funding = f"Calls use the platform’s {_provider_label(provider)} key pool."
    else:
        provider = settings.QODEX_PLATFORM_PROVIDER
        funding = (
            f"Calls use the platform’s {_provider_label(provider)} key and count against this project’s "
            "platform limits."
        )
    if provider == STANDIN:
        funding = f"Calls go to the {STANDIN_LABEL}, on this machine: nothing leaves it."
    priced = ModelPrice.objects.filter(provider=provider).values_list("model", flat=True).distinct()
    # A pattern such as `gpt-4o-mini*` stands for its base name.
    names = sorted({name.rstrip("*") for name in priced if name.rstrip("*")})
    default = default or DEFAULT_MODELS.get(provider, "") or (names[0] if names else "")
    if default:
        names = [default] + [name for name in names if name != default]
    return Models(provider=provider, names=names, default=default, funding=funding)


def _provider_label(provider: str) -> str:
    return Provider(provider).label if provider in Provider.values else provider or "LLM"


class PlaygroundForm(forms.Form):
    model = forms.ChoiceField(label="Model")
    system = forms.CharField(
        label="System prompt",
        required=False,
        max_length=PROMPT_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Optional: how the model should behave"}),
    )
    prompt = forms.CharField(
        label="Prompt",
        max_length=PROMPT_MAX,
        error_messages={"required": "Write a prompt to send."},
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    temperature = forms.DecimalField(
        label="Temperature", min_value=0, max_value=2, decimal_places=2, initial="1.0",
        widget=forms.NumberInput(attrs={"step": "0.1"}),
    )  # fmt: skip
    max_tokens = forms.IntegerField(label="Max tokens", min_value=1, max_value=4096, initial=1024)

    def __init__(self, *args, models: Models, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [(name, models.label(name)) for name in models.names]
        self.fields["model"].initial = models.default
        if not models.names:  # e.g. BYOK with no key saved: the gateway's refusal says what to do
            self.fields["model"].required = False
            self.fields["model"].choices = [("", "The provider’s default")]

    def call(self) -> dict:
        """The gateway's arguments (besides the project, source and user)."""
        data = self.cleaned_data
        messages = [{"role": "system", "content": data["system"]}] if data["system"].strip() else []
        messages.append({"role": "user", "content": data["prompt"]})
        return {
            "messages": messages,
            "model": data["model"] or None,
            "temperature": float(data["temperature"]),
            "max_tokens": data["max_tokens"],
        }


def figures(usage: LlmUsageLog, models: Models) -> dict:
    """What the page shows under a reply: model, tokens, latency and cost (or unpriced)."""
    return {
        "model": models.label(usage.model),
        "input_tokens": usage.input_tokens,
        "cached_tokens": usage.cached_tokens,
        "output_tokens": usage.output_tokens,
        "latency_ms": usage.latency_ms,
        "cost": f"${usage.cost_usd:.8f}" if usage.cost_usd is not None else "unpriced",
    }


@project_view()
def playground(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    """The page; a POST (members and up) sends the prompt: streamed under htmx, whole without JS."""
    models = models_for(project)
    context = {
        "project": project,
        "access": access,
        "models": models,
        "reply": None,
        "figures": None,
        "refusal": "",
        "stream_url": "",
    }
    if request.method != "POST":
        context["form"] = PlaygroundForm(models=models)
        return render(request, "byok/playground.html", context)
    form = context["form"] = PlaygroundForm(request.POST, models=models)
    streamed = request.headers.get("HX-Request") == "true"
    template = "byok/playground_panel.html" if streamed else "byok/playground.html"
    if not form.is_valid():
        return render(request, template, context, status=200 if streamed else 400)
    if streamed:
        context["stream_url"] = reverse(
            "projects:playground_stream",
            kwargs={"slug": project.slug, "key": hold(request, project, form.call())},
        )
        return render(request, template, context)
    try:
        result = gateway.complete(project, source=SOURCE, user=request.user, **form.call())
    except LlmError as refused:
        context["refusal"] = refused.message
        return render(request, template, context)
    context.update(reply=result.text, figures=figures(result.usage, models))
    return render(request, template, context)


@project_view(read="project:write")  # a GET that spends: members and up, like the POST that led here
def playground_stream(
    request: HttpRequest, project: Project, access: ProjectAccess, key: str
) -> HttpResponse:
    """The reply as server-sent events: `delta` (a JSON string) per piece of text, then `done` with the
    figures as HTML, or `error` with a sentence. Each held prompt streams once."""
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    call = take(request, project, key)
    models = models_for(project)

    def events():
        if call is None:
            yield sse_event("refusal", {"message": EXPIRED})
            return
        try:
            reply = gateway.stream(project, source=SOURCE, user=request.user, **call)
            yield from sse_deltas(reply)
        except LlmError as refused:
            yield sse_event("refusal", {"message": refused.message})
            return
        html = render_to_string(
            "byok/playground_figures.html", {"figures": figures(reply.result.usage, models)}
        )
        yield sse_event("done", {"html": html})

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx would otherwise hold the deltas back
    return response


def sse_event(name: str, data) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def sse_deltas(reply) -> Iterator[str]:
    """A gateway stream's text as `delta` events (the playground's and the chat's). LlmError passes
    through; a client that went away closes the stream, and the gateway still writes what was spent."""
    pieces = iter(reply)
    try:
        for delta in pieces:
            yield sse_event("delta", delta)
    finally:
        pieces.close()


def hold(request: HttpRequest, project: Project, call: dict, session_key: str = SESSION_KEY) -> str:
    """Keep `call` in the server-side session under a random id, dropping held calls that expired (the chat
    holds its turns here too, under its own session key)."""
    now = time.time()
    held = {
        key: entry
        for key, entry in request.session.get(session_key, {}).items()
        if now - entry["at"] < PENDING_SECONDS
    }
    key = secrets.token_urlsafe(16)
    held[key] = {"at": now, "project": project.pk, "call": call}
    request.session[session_key] = held
    return key


def take(request: HttpRequest, project: Project, key: str, session_key: str = SESSION_KEY) -> dict | None:
    """The held call `key` of this project, removed from the session; None if unknown or expired."""
    now = time.time()
    held = request.session.get(session_key, {})
    entry = held.get(key)
    if entry is None:
        return None
    # Saved before the stream starts, so a second GET finds nothing; expired prompts go too.
    request.session[session_key] = {
        other: kept for other, kept in held.items() if other != key and now - kept["at"] < PENDING_SECONDS
    }
    if entry["project"] != project.pk or now - entry["at"] >= PENDING_SECONDS:
        return None
    return entry["call"]
