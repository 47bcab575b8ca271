from django.contrib import admin
from django.urls import include, path, re_path

from projects import views as project_views
from qodex import api_errors, views
from qodex.api import api
from usage import views as usage_views

admin.site.site_header = "Qodex data admin"
admin.site.site_url = "/admin/"

urlpatterns = [
    path("", project_views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("projects/new/", project_views.project_new, name="project_new"),
    path("invitations/<str:token>/", project_views.invitation, name="invitation"),
    path("orgs/<slug:org_slug>/api-keys/", project_views.org_api_keys, name="org_api_keys"),
    path("p/<slug:slug>/", include("projects.urls")),
    path("admin/db/", admin.site.urls),
    path("admin/", usage_views.staff_console, name="staff_console"),
    path("api/v1/", api.urls),
    re_path(r"^api/", api_errors.not_found),  # any other /api/ path: the JSON 404, never an HTML page
]
