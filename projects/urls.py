"""Routes under /p/<slug>/. Every view here is wrapped by projects.access.project_view."""

from django.urls import include, path

from byok import playground
from byok import views as byok_views
from projects import views
from qa import memory_views, run_pages
from qa import views as qa_views
from usage import views as usage_views

app_name = "projects"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("chat/", qa_views.conversations, name="chat"),
    path("chat/<int:pk>/", qa_views.conversation, name="chat_conversation"),
    path("chat/<int:pk>/stream/<str:key>/", qa_views.conversation_stream, name="chat_stream"),
    path("scenarios/", include("qa.scenario_urls")),  # scenarios, scenario, collections, …
    path("test-runs/", run_pages.test_runs, name="test_runs"),
    path("test-runs/start", run_pages.test_run_start, name="test_run_start"),
    path("test-runs/<int:pk>/", run_pages.test_run, name="test_run"),
    path("findings/", run_pages.findings, name="findings"),
    path("findings/<int:pk>/", run_pages.finding, name="finding"),
    path("playground/", playground.playground, name="playground"),
    path("playground/stream/<str:key>/", playground.playground_stream, name="playground_stream"),
    path("memory/", memory_views.memory, name="memory"),
    path("settings/", views.settings, name="settings"),
    path("settings/members/", views.members, name="members"),
    path("settings/environments/", include("environments.urls")),  # environments, environment_new, …
    path("settings/api-keys/", views.api_keys, name="api_keys"),
    path("settings/byok/", byok_views.byok, name="byok"),
    path("settings/usage/", usage_views.project_usage, name="usage"),
    path("settings/audit/", views.audit_log, name="audit"),
]
