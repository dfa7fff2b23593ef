from django.contrib import admin
from django.db.models import Count

from compute.services import ensure_local_target

from .models import Membership, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "member_count", "target_count", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                members_n=Count("memberships", distinct=True), targets_n=Count("targets", distinct=True)
            )
        )

    @admin.display(description="members", ordering="members_n")
    def member_count(self, obj):
        return obj.members_n

    @admin.display(description="compute targets", ordering="targets_n")
    def target_count(self, obj):
        return obj.targets_n

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        ensure_local_target(workspace=obj)  # every workspace has the local computer


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["user__username", "workspace__name"]
    autocomplete_fields = ["user", "workspace"]
