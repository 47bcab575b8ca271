"""The data admin (/admin/db/) for qa/: memories, read-only."""

from django.contrib import admin

from qa.models import Memory


@admin.register(Memory)
class MemoryAdmin(admin.ModelAdmin):
    """Read-only here: memories change through the product so memory_count stays exact."""

    list_display = ["__str__", "project", "organization", "created_at"]
    list_select_related = ["project", "organization"]
    search_fields = ["content"]
    raw_id_fields = ["project", "organization", "created_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
