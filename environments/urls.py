"""Routes under /p/<slug>/settings/environments/, in the `projects` namespace (no app_name of their own).

Every view here is wrapped by projects.access.project_view.
"""

from django.urls import path

from environments import views

urlpatterns = [
    path("", views.environment_list, name="environments"),
    path("new/", views.environment_new, name="environment_new"),
    path("import/", views.environment_import, name="environment_import"),
    path("<int:environment_id>/", views.environment_detail, name="environment"),
    path("<int:environment_id>/delete/", views.environment_delete, name="environment_delete"),
    path("<int:environment_id>/export/", views.environment_export, name="environment_export"),
    path("<int:environment_id>/preview/", views.environment_preview, name="environment_preview"),
    path("<int:environment_id>/test-login/", views.environment_test_login, name="environment_test_login"),
    path(
        "<int:environment_id>/capture-login/",
        views.environment_capture_login,
        name="environment_capture_login",
    ),
    path("<int:environment_id>/activate/", views.environment_activate, name="environment_activate"),
]
