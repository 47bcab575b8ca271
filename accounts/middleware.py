from django.shortcuts import redirect

from accounts import registration

# What an account that has not verified its email may still reach.
# The API answers unverified sessions itself, in JSON (qodex.api_auth).
OPEN_PREFIXES = ("/accounts/", "/static/", "/healthz", "/invitations/", "/api/")


class VerifiedEmailRequiredMiddleware:
    """Unverified users see nothing but the "check your email" page (and the account pages around it).

    A visitor who signed up in this browser and has not verified yet is treated the same way, whether
    or not the address already had an account: sign-up must not tell the two apart.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(OPEN_PREFIXES) and self.awaits_verification(request):
            return redirect("accounts:check_email")
        return self.get_response(request)

    @staticmethod
    def awaits_verification(request) -> bool:
        user = getattr(request, "user", None)
        if user is None:
            return False
        if user.is_authenticated:
            return not user.is_verified
        return registration.pending(request) is not None
