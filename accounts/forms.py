from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.forms import PasswordResetForm as DjangoPasswordResetForm

from accounts import sudo
from accounts.models import User


class SignupForm(forms.Form):
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters; not a common password.",
    )

    # No "this address is taken" check: sign-up never says whether an address has an account (SPEC §11).

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            try:
                password_validation.validate_password(password, User(email=cleaned.get("email", "")))
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    error_messages = {
        "invalid_login": "That email and password don’t match an account.",
        "inactive": "This account is inactive.",
    }


class PasswordResetForm(DjangoPasswordResetForm):
    def get_users(self, email):
        """The active account `email` names, found the way logins find it (`User.objects.by_email`)."""
        active = User.objects.by_email(email).filter(is_active=True)
        return (user for user in active if user.has_usable_password())


class ConfirmPasswordForm(forms.Form):
    password = forms.CharField(
        strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True})
    )

    def __init__(self, request, *args, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)

    @property
    def throttled(self) -> bool:
        return self.has_error("password", code="throttled")

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        sudo.check_password(self.request, password)
        return password
