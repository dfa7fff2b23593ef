from django import forms
from django.contrib import admin
from django.db.models import Count

from compute.local_grant import local_target_grant, local_target_revoke

from . import tokens
from .models import ApiToken, Membership, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


class WorkspaceForm(forms.ModelForm):
    class Meta:
        model = Workspace
        fields = ["name", "slug", "local_target_allowed"]

    def clean_local_target_allowed(self):
        allowed = self.cleaned_data["local_target_allowed"]
        if self.instance.pk and self.instance.local_target_allowed and not allowed:
            from runs.models import UNFINISHED

            unfinished = self.instance.runs.filter(target__kind="local", status__in=UNFINISHED).count()
            if unfinished:
                raise forms.ValidationError(
                    f"{unfinished} run(s) on the local computer are unfinished: "
                    "cancel them or let them end, then revoke."
                )
        if allowed and self.instance.pk and self.instance.targets.filter(name="local").exclude(kind="local"):
            raise forms.ValidationError("A target named “local” is in the way: rename or detach it first.")
        return allowed


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    form = WorkspaceForm
    list_display = ["name", "slug", "member_count", "target_count", "local_target_allowed", "created_at"]
    list_filter = ["local_target_allowed"]
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
        # The grant and the local target go together: the services keep them so.
        if obj.local_target_allowed:
            local_target_grant(workspace=obj)
        elif change and "local_target_allowed" in form.changed_data:
            local_target_revoke(workspace=obj)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["user__username", "workspace__name"]
    autocomplete_fields = ["user", "workspace"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Admins see and revoke tokens; nobody, here or anywhere, sees one again."""

    list_display = [
        "name",
        "prefix",
        "user",
        "workspace",
        "read_only",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["read_only", "workspace"]
    search_fields = ["name", "prefix", "user__username"]
    fields = [
        "name",
        "prefix",
        "user",
        "workspace",
        "read_only",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # made on the profile page or with manage.py create_api_token: shown once there

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            tokens.token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")
