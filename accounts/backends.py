from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    """Log in by email, in any case (`User.objects.by_email`)."""

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        from accounts.models import User

        email = email or username
        if not email or password is None:
            return None
        user = User.objects.by_email(email).first()
        if user is None:
            User().set_password(password)  # same work either way: no timing oracle for existing emails
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
