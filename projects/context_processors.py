from functools import cache

from projects.switcher import switcher_projects


def switcher(request):
    """Lazily: the query runs only when a page actually renders the switcher."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    @cache
    def projects():
        return switcher_projects(user)

    return {"switcher_projects": projects, "current_project": getattr(request, "project", None)}
