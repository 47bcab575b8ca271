"""Routes under /p/<slug>/scenarios/, in the `projects` namespace (no app_name of their own).

Every view here is wrapped by projects.access.project_view.
"""

from django.urls import path

from qa import scenario_views as views

urlpatterns = [
    path("", views.scenario_list, name="scenarios"),
    path("new/", views.scenario_new, name="scenario_new"),
    path("import/", views.scenario_import, name="scenario_import"),
    path("generate/", views.scenario_generate, name="scenario_generate"),
    path("export/", views.scenarios_export, name="scenarios_export"),
    path("<int:scenario_id>/", views.scenario_detail, name="scenario"),
    path("<int:scenario_id>/export/", views.scenario_export, name="scenario_export"),
    path("<int:scenario_id>/delete/", views.scenario_delete, name="scenario_delete"),
    path("collections/", views.collection_list, name="collections"),
    path("collections/new/", views.collection_new, name="collection_new"),
    path("collections/<int:collection_id>/", views.collection_detail, name="collection"),
    path("collections/<int:collection_id>/delete/", views.collection_delete, name="collection_delete"),
]
