from django.contrib import admin

from .models import ComputeTarget, NodeSize, TargetEvent


class TargetEventInline(admin.TabularInline):
    model = TargetEvent
    extra = 0
    can_delete = False
    readonly_fields = ["at", "state", "reason", "actor"]


@admin.register(ComputeTarget)
class ComputeTargetAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "kind", "origin", "state", "activity", "last_checked", "last_error"]
    list_filter = ["kind", "origin", "state", "workspace"]
    search_fields = ["name", "workspace__name", "last_error"]
    # Secrets are never shown back, not even to admins; they change on the target's page.
    exclude = ["encrypted_secrets"]
    readonly_fields = [
        "secrets_set",
        "host_key",
        "pending_host_key",
        "capabilities",
        "last_checked",
        "created_at",
        "updated_at",
    ]
    inlines = [TargetEventInline]

    @admin.display(description="credentials set")
    def secrets_set(self, obj):
        return ", ".join(sorted(obj.encrypted_secrets)) or "none"


@admin.register(TargetEvent)
class TargetEventAdmin(admin.ModelAdmin):
    list_display = ["target", "state", "at", "actor", "reason"]
    list_filter = ["state", "target__kind", "target__workspace"]
    search_fields = ["target__name", "reason"]
    date_hierarchy = "at"


@admin.register(NodeSize)
class NodeSizeAdmin(admin.ModelAdmin):
    """Installation-wide sizes (no workspace) are edited here; owners edit their workspace's own."""

    list_display = ["name", "workspace", "cpu_cores", "memory_gb", "gpus", "hourly_price"]
    list_filter = [("workspace", admin.EmptyFieldListFilter), "gpus"]
    search_fields = ["name", "workspace__name"]

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser
