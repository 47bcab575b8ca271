from functools import cache

from environments.switcher import switcher_state


def environment_switcher(request):
    """Lazily: the two queries run only when a project page renders the switcher (or the overview card)."""
    project = getattr(request, "project", None)
    user = getattr(request, "user", None)
    if project is None or user is None or not user.is_authenticated:
        return {}

    @cache
    def state():
        return switcher_state(user, project)

    return {"environment_switcher": state}
