"""The BYOK page's forms: field errors before a door is called (the doors check everything again)."""

from __future__ import annotations

from django import forms

from byok.models import Provider
from projects.models import Project


class KeyForm(forms.Form):
    """Paste (or replace) a provider key. The key is never rendered back, not even after an error."""

    provider = forms.ChoiceField(choices=Provider.choices)
    api_key = forms.CharField(
        label="API key",
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    base_url = forms.CharField(
        label="Base URL (optional)",
        required=False,
        max_length=500,
        widget=forms.URLInput(attrs={"placeholder": "https://api.openai.com/v1"}),
        help_text="Only for a proxy or a compatible gateway. The key is sent there.",
    )
    default_model = forms.CharField(
        label="Default model (optional)",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "gpt-4o-mini"}),
    )

    def __init__(self, *args, saved: set[str] = frozenset(), **kwargs):
        super().__init__(*args, **kwargs)
        self.saved = saved

    def clean(self):
        data = super().clean()
        provider = data.get("provider")
        if provider and provider not in self.saved and not data.get("api_key"):
            self.add_error("api_key", f"Paste your {Provider(provider).label} API key.")
        return data


class ModeForm(forms.Form):
    mode = forms.ChoiceField(
        label="Who pays for LLM calls",
        choices=[(Project.LlmMode.PLATFORM, "Platform key (capped)"), (Project.LlmMode.BYOK, "Your own key")],
        widget=forms.RadioSelect,
    )
    provider = forms.ChoiceField(label="Provider for your own key", choices=Provider.choices)


class LimitsForm(forms.Form):
    """Staff only: the codex pool and the cap overrides."""

    codex_pool = forms.BooleanField(label="Use the codex pool (never capped)", required=False)
    cap_5h_usd = forms.DecimalField(
        label="5-hour cap (USD)", required=False, min_value=0, max_digits=10, decimal_places=2
    )
    cap_weekly_usd = forms.DecimalField(
        label="Weekly cap (USD)", required=False, min_value=0, max_digits=10, decimal_places=2
    )
