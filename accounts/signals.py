from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from accounts import registration, sudo


@receiver(user_logged_in)
def confirm_sudo_on_login(sender, request, user, **kwargs):
    """Entering the password just now counts as a confirmation (sudo mode, SPEC §11)."""
    if request is not None and hasattr(request, "session"):
        sudo.confirm(request)


@receiver(user_logged_in)
def finish_pending_signup(sender, request, user, **kwargs):
    """Once someone is logged in, the browser no longer waits on a sign-up."""
    if request is not None:
        registration.forget(request)
