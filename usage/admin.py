from django.contrib import admin

from usage.models import LlmUsageLog, ModelPrice


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    """Staff edit prices here. `manage.py load_prices` resets the price file's own rows to the file's
    figures; to override one for good, add a row with a later effective_from."""

    list_display = [
        "provider",
        "model",
        "input_per_mtok",
        "cached_input_per_mtok",
        "output_per_mtok",
        "effective_from",
        "note",
    ]
    list_filter = ["provider"]
    search_fields = ["provider", "model", "note"]
    ordering = ["provider", "model", "-effective_from"]


@admin.register(LlmUsageLog)
class LlmUsageLogAdmin(admin.ModelAdmin):
    """Read-only: the gateway writes each row once."""

    list_display = [
        "created_at",
        "project",
        "source",
        "funding",
        "provider",
        "model",
        "input_tokens",
        "cached_tokens",
        "output_tokens",
        "cost",
        "latency_ms",
        "outcome",
    ]
    list_select_related = ["project"]
    list_filter = ["funding", "source", "outcome"]
    search_fields = ["model", "project__slug"]
    date_hierarchy = "created_at"
    raw_id_fields = ["project", "organization", "user", "api_key"]
    # The log grows without bound: no COUNT(*) of the whole table on every page.
    show_full_result_count = False

    @admin.display(description="cost (USD)", ordering="cost_usd")
    def cost(self, row: LlmUsageLog) -> str:
        return "unpriced" if row.cost_usd is None else str(row.cost_usd)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
