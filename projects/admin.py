from django.contrib import admin

from projects.models import (
    ApiKey,
    AuditEvent,
    Invitation,
    Organization,
    OrgMembership,
    Project,
    ProjectMember,
)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "public_id", "created_at"]
    search_fields = ["name", "slug", "public_id"]


@admin.register(OrgMembership)
class OrgMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role"]
    list_select_related = ["user", "organization"]
    raw_id_fields = ["user", "organization"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "public_id", "organization", "is_default", "memory_count", "deleted_at"]
    list_select_related = ["organization"]
    list_filter = ["is_default"]
    search_fields = ["name", "slug", "public_id"]
    readonly_fields = ["public_id", "memory_count"]
    raw_id_fields = ["organization"]


@admin.register(ProjectMember)
class ProjectMemberAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "joined_at"]
    list_select_related = ["user", "project"]
    raw_id_fields = ["user", "project"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "project", "role", "expires_at", "accepted_at", "revoked_at"]
    list_select_related = ["project"]
    raw_id_fields = ["project", "invited_by", "accepted_by"]
    exclude = ["token_hash"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created in the product (shown once); here staff can only look and revoke."""

    list_display = ["name", "prefix", "scope", "organization", "project", "last_used_at", "revoked_at"]
    list_select_related = ["organization", "project"]
    list_filter = ["scope"]
    search_fields = ["name", "prefix"]
    readonly_fields = [
        "prefix",
        "organization",
        "project",
        "scope",
        "created_by",
        "created_at",
        "last_used_at",
    ]
    exclude = ["key_hash"]

    def has_add_permission(self, request):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the log is append-only."""

    list_display = ["created_at", "action", "actor_label", "target", "project", "organization"]
    list_select_related = ["project", "organization"]
    list_filter = ["action"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
