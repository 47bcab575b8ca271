from django.contrib import admin

from environments.models import Environment
from qodex import crypto


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    """Staff can look and fix settings; secrets are only ever shown masked, and replaced in the product."""

    list_display = ["name", "project", "auth_type", "base_url", "read_only", "max_rps", "updated_at"]
    list_select_related = ["project"]
    list_filter = ["auth_type", "read_only"]
    search_fields = ["name", "base_url", "project__slug"]
    raw_id_fields = ["project", "updated_by"]
    exclude = ["auth_token", "auth_password", "ui_storage_state"]
    readonly_fields = [
        "masked_auth_token",
        "masked_auth_password",
        "masked_variables",
        "ui_storage_captured_at",
        "updated_at",
    ]

    @admin.display(description="Auth token")
    def masked_auth_token(self, environment: Environment) -> str:
        return crypto.mask(environment.auth_token) or "—"

    @admin.display(description="Auth password")
    def masked_auth_password(self, environment: Environment) -> str:
        return crypto.mask_password(environment.auth_password) or "—"

    @admin.display(description="Variables")
    def masked_variables(self, environment: Environment) -> str:
        values = environment.get_variables(reveal=False)
        return ", ".join(f"{name}={value}" for name, value in values.items()) or "—"
