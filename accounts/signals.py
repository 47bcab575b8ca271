from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from accounts import sudo


@receiver(user_logged_in)
def confirm_sudo_on_login(sender, request, user, **kwargs):
    """Entering the password just now counts as a confirmation (sudo mode, SPEC §11)."""
    if request is not None and hasattr(request, "session"):
        sudo.confirm(request)
