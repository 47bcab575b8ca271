"""The memory page (SPEC §9): /p/<slug>/memory/ lists and searches a project's memories; members and up
add, edit and delete them through qa.doors. The API mirror is qa/api_memories.py."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from projects.access import Actor, ProjectAccess, project_view
from projects.models import Project
from projects.views import posted_id
from qa import doors
from qa.models import Memory


class MemoryForm(forms.Form):
    content = forms.CharField(
        max_length=doors.MEMORY_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Something the assistant should know about this project.",
    )


@project_view()
def memory(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    """The project's knowledge: list and search; members add, edit and delete (SPEC §9)."""
    form = MemoryForm()
    if request.method == "POST":
        actor = Actor.of(request)
        action = request.POST.get("action")
        if action == "add":
            form = MemoryForm(request.POST)
            if form.is_valid():
                doors.add_memory(actor, project, form.cleaned_data["content"])
                messages.success(request, "Memory added.")
                return redirect("projects:memory", slug=project.slug)
        elif action in ("edit", "delete"):
            item = get_object_or_404(Memory.objects.for_project(project), pk=posted_id(request, "memory_id"))
            if action == "delete":
                doors.delete_memory(actor, project, item)
                messages.success(request, "Memory deleted.")
            else:
                doors.update_memory(actor, project, item, content=request.POST.get("content", ""))
                messages.success(request, "Memory updated.")
            return redirect("projects:memory", slug=project.slug)
        else:
            messages.error(request, "Unknown action.")
    query = request.GET.get("q", "").strip()[:200]
    memories = Memory.objects.for_project(project).select_related("created_by").order_by("-pk")
    if query:
        memories = memories.search(query)
    context = {
        "form": form,
        "query": query,
        "page": Paginator(memories, 50).get_page(request.GET.get("page")),
    }
    return render(request, "qa/memory.html", context, status=400 if request.method == "POST" else 200)
