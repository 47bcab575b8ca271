from django.shortcuts import redirect

# What an account that has not verified its email may still reach.
# The API answers unverified sessions itself, in JSON (qodex.api_auth).
OPEN_PREFIXES = ("/accounts/", "/static/", "/healthz", "/invitations/", "/api/")


class VerifiedEmailRequiredMiddleware:
    """Unverified users see nothing but the "check your email" page (and the account pages around it)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not user.is_verified
            and not request.path.startswith(OPEN_PREFIXES)
        ):
            return redirect("accounts:check_email")
        return self.get_response(request)
