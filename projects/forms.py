from django import forms

from accounts import sudo
from projects.models import ApiKey, Organization
from projects.roles import Role, at_least


class ProjectCreateForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"autofocus": True}))
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.none(), required=False, empty_label=None
    )

    def __init__(self, organizations, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations
        # The choice only appears where the user administers several organizations (SPEC §4).
        if len(organizations) < 2:
            self.fields["organization"].widget = forms.HiddenInput()

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the project a name.")
        return name


class ProjectRenameForm(forms.Form):
    name = forms.CharField(max_length=100)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the project a name.")
        return name


class ProjectDeleteForm(forms.Form):
    confirm_slug = forms.CharField(label="Type the project slug to confirm")
    password = forms.CharField(required=False, strip=False, widget=forms.PasswordInput)

    def __init__(self, project, user, needs_password: bool, *args, request=None, **kwargs):
        self.project, self.user, self.needs_password, self.request = project, user, needs_password, request
        super().__init__(*args, **kwargs)
        if not needs_password:
            del self.fields["password"]
        else:
            self.fields["password"].required = True
            self.fields["password"].label = "Your password"

    def clean_confirm_slug(self) -> str:
        value = self.cleaned_data["confirm_slug"].strip()
        if value != self.project.slug:
            raise forms.ValidationError(f"Type “{self.project.slug}” exactly to delete this project.")
        return value

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password", "")
        if self.needs_password:
            sudo.check_password(self.request, password)  # throttled like /accounts/confirm-password/
        return password


def grantable_roles(actor_role: str) -> list[tuple[str, str]]:
    """Admins grant up to admin; only owners make owners."""
    return [
        (value, label)
        for value, label in Role.choices
        if value != Role.OWNER or at_least(actor_role, Role.OWNER)
    ]


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, project, actor_role: str, *args, **kwargs):
        self.project = project
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = grantable_roles(actor_role)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()  # who may be invited is the door's rule


class ApiKeyCreateForm(forms.Form):
    EXPIRY_CHOICES = [("", "Never"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year")]

    name = forms.CharField(max_length=100, help_text="Where the key is used, e.g. “GitHub Actions”.")
    scope = forms.ChoiceField(
        choices=ApiKey.Scope.choices,
        initial=ApiKey.Scope.READ,
        help_text="Read keys can only look; write keys can also change this project.",
    )
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, label="Expires")

    def __init__(self, *args, scopes=(ApiKey.Scope.READ, ApiKey.Scope.WRITE), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scope"].choices = [(v, label) for v, label in ApiKey.Scope.choices if v in scopes]
        if ApiKey.Scope.ADMIN in scopes:
            self.fields["scope"].help_text = (
                "Read keys look at every project; write keys act as an admin on every project; "
                "admin keys act as an owner and can delete projects."
            )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the key a name.")
        return name
