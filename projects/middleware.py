"""Remember the last project a person opened, for redirecting `/` (README: "`/` for a signed-in user")."""

from __future__ import annotations

SESSION_KEY = "last_project_id"


class RememberLastProject:
    """After a project page answered, keep its id in the session when it changed.

    Kept out of the permission decorator, which only decides; the session is written only when the
    person moves to another project.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        project = getattr(request, "project", None)
        remembered = project is not None and response.status_code == 200 and hasattr(request, "session")
        if remembered and request.session.get(SESSION_KEY) != project.pk:
            request.session[SESSION_KEY] = project.pk
        return response


def last_project_id(request) -> int | None:
    return request.session.get(SESSION_KEY)
