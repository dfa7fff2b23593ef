"""The admin site's installation-wide usage: the dashboard's figures for
every workspace at once, for superusers, beside the raw usage intervals."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from portal.models import WorkspaceQuota
from runs.models import RunAllocation, TargetPrice

from . import figures, ranges, report


@admin.register(RunAllocation)
class RunAllocationAdmin(admin.ModelAdmin):
    list_display = (
        "run",
        "attempt",
        "workspace",
        "target",
        "user",
        "started_at",
        "ended_at",
        "cpus",
        "gpus",
        "node_count",
    )
    list_filter = ("workspace",)
    list_select_related = ("run", "workspace", "target", "user")
    date_hierarchy = "started_at"
    change_list_template = "admin/dashboard/runallocation_change_list.html"

    def has_add_permission(self, request):
        return False  # recorded when runs start and end, not by hand

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path(
                "installation/", self.admin_site.admin_view(self.installation), name="dashboard_installation"
            ),
            *super().get_urls(),
        ]

    def installation(self, request):
        if not request.user.is_superuser:
            raise PermissionDenied("The installation's usage is for superusers.")
        try:
            rng = ranges.from_request(request.GET)
        except ranges.RangeError as exc:
            messages.error(request, str(exc))
            rng = ranges.preset("24h")
        context = {
            **self.admin_site.each_context(request),
            "title": "Usage across all workspaces",
            "rng": rng,
            "now": figures.now_state(None),
            "report": report.report(None, rng),
            "by_workspace": report.by_workspace(rng),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/dashboard/installation.html", context)


@admin.register(WorkspaceQuota)
class WorkspaceQuotaAdmin(admin.ModelAdmin):
    list_display = (
        "workspace",
        "max_concurrent_gpus",
        "max_concurrent_nodes",
        "monthly_gpu_hours",
        "updated_at",
    )


@admin.register(TargetPrice)
class TargetPriceAdmin(admin.ModelAdmin):
    list_display = ("target", "hourly_price")
    list_select_related = ("target",)
