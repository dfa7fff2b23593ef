from django.contrib import admin

from .models import Experiment, Metric, Output, Run, RunLogChunk, Snapshot


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ("name", "workspace", "created_by", "created_at")
    list_filter = ("workspace",)
    search_fields = ("name",)


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    list_display = ("short", "workspace", "file_count", "size_bytes", "created_at")
    readonly_fields = ("sha256", "files", "excluded")


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("pk", "experiment", "target", "status", "exit_code", "created_at", "lease_owner")
    list_filter = ("status", "workspace")
    readonly_fields = (
        "key",
        "handle",
        "log_offsets",
        "metrics_offset",
        "next_seq",
        "lease_owner",
        "lease_expires_at",
        "heartbeat_at",
    )


admin.site.register([RunLogChunk, Metric, Output])
