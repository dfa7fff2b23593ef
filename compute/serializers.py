"""What the REST API sends and accepts for compute targets.

A target goes out without a secret: ``secrets_set`` names the stored ones.
A new target comes in validated by its kind's own form (the "+ Add" page's),
so the API and the page accept exactly the same things."""

from django import forms
from django.urls import reverse
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import hostkeys
from .backends import addable_backends
from .models import Origin, TargetState

SCALARS = (str, int, float, bool)


class HostKeyPendingSerializer(serializers.Serializer):
    fingerprint = serializers.CharField(help_text="SHA256 fingerprint of the key the host presented.")
    replaces = serializers.CharField(
        allow_null=True, help_text="The pinned key's fingerprint when the host's key changed; else null."
    )


class TargetSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField()
    kind_label = serializers.CharField()
    origin = serializers.ChoiceField(choices=Origin.choices)
    state = serializers.ChoiceField(choices=TargetState.choices)
    state_label = serializers.CharField(
        help_text="The state in the pages' words (a created VM that is up: Running)."
    )
    state_reason = serializers.SerializerMethodField()
    activity = serializers.CharField(help_text="What a task is doing on it now; empty when idle.")
    summary = serializers.SerializerMethodField()
    can_run = serializers.SerializerMethodField()
    config = serializers.SerializerMethodField()
    secrets_set = serializers.SerializerMethodField()
    host_key_pending = serializers.SerializerMethodField()
    capabilities = serializers.JSONField(
        help_text="What the last check found (CPUs, memory, GPUs, Python...)."
    )
    last_checked = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.STR)
    def get_state_reason(self, target) -> str:
        """The error it is in, else the reason its latest event recorded."""
        if target.last_error:
            return target.last_error
        if hasattr(target, "state_reason"):  # annotated by selectors.with_state_reason
            return target.state_reason or ""
        event = target.events.first() if target.pk else None
        return event.reason if event else ""

    @extend_schema_field(OpenApiTypes.STR)
    def get_summary(self, target) -> str:
        caps = target.capabilities if isinstance(target.capabilities, dict) else {}
        parts = []
        if isinstance(caps.get("cpus"), int | float):
            parts.append(f"{caps['cpus']:g} CPUs")
        if isinstance(caps.get("memory_mb"), int | float):
            parts.append(f"{caps['memory_mb'] / 1024:.1f} GB memory")
        gpus = caps.get("gpus") if isinstance(caps.get("gpus"), list) else []
        if gpus and isinstance(gpus[0], dict):
            parts.append(f"{len(gpus)} × {gpus[0].get('name', 'GPU')}")
        return ", ".join(parts)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_can_run(self, target) -> bool:
        return target.backend.can_run

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_config(self, target) -> dict:
        secret = target.backend.secret_fields
        return {key: value for key, value in target.config.items() if key not in secret}

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_secrets_set(self, target) -> list[str]:
        return sorted(target.encrypted_secrets)

    @extend_schema_field(HostKeyPendingSerializer(allow_null=True))
    def get_host_key_pending(self, target) -> dict | None:
        if not target.pending_host_key:
            return None
        return {
            "fingerprint": _fingerprint(target.pending_host_key),
            "replaces": _fingerprint(target.host_key) if target.host_key else None,
        }

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, target) -> str:
        path = reverse("target-detail", args=[target.name])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


def _fingerprint(key_line: str) -> str:
    try:
        return hostkeys.fingerprint(key_line)
    except hostkeys.BadHostKey:
        return "(unreadable key)"


class TargetCreateSerializer(serializers.Serializer):
    """``{"kind": ..., <the kind's form fields>}``, checked by the kind's form.

    ``validated_data`` is ``{"kind", "name", "config", "secrets", "host_key"}``
    as ``services.target_add`` takes it."""

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace

    @sensitive_variables("data", "given")
    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Send a JSON object."]})
        backends = {b.kind: b for b in addable_backends()}
        kind = data.get("kind")
        if not isinstance(kind, str) or kind not in backends:
            choices = ", ".join(backends)
            raise serializers.ValidationError({"kind": [f"Give the kind to add, one of: {choices}."]})
        form_class = backends[kind].config_form()
        given = {key: value for key, value in data.items() if key != "kind"}
        errors = {
            key: [f"Not a field of {backends[kind].label} targets."]
            for key in given
            if key not in form_class.base_fields
        }
        errors |= {
            key: ["A single value: text, a number or a boolean."]
            for key, value in given.items()
            if key in form_class.base_fields and value is not None and not isinstance(value, SCALARS)
        }
        if errors:
            raise serializers.ValidationError(errors)
        given = {key: value for key, value in given.items() if value is not None}
        # A required field left out takes the value the page's form starts with (port 22).
        given |= {name: default for name, default in _defaults(form_class).items() if name not in given}
        form = form_class(given, workspace=self.workspace)
        if not form.is_valid():
            raise serializers.ValidationError(
                {
                    ("non_field_errors" if field == "__all__" else field): [e["message"] for e in messages]
                    for field, messages in form.errors.get_json_data().items()
                }
            )
        return {"kind": kind, **form.to_target()}


def _defaults(form_class) -> dict:
    return {
        name: field.initial
        for name, field in form_class.base_fields.items()
        if field.required and field.initial is not None and not callable(field.initial)
    }


class TargetEventSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    state = serializers.ChoiceField(choices=TargetState.choices)
    message = serializers.CharField(source="reason")
    actor = serializers.CharField(source="actor.get_username", allow_null=True, default=None)


class HostKeyDecisionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["confirm", "reject"], default="confirm")
    fingerprint = serializers.CharField(
        required=False, help_text="The SHA256 fingerprint you compared with the host's, to confirm it."
    )

    def validate(self, data):
        if data["action"] == "confirm" and not data.get("fingerprint"):
            raise serializers.ValidationError(
                {"fingerprint": ["Give the fingerprint you confirm (host_key_pending.fingerprint)."]}
            )
        return data


class SizeSerializer(serializers.Serializer):
    name = serializers.CharField()
    engine = serializers.CharField(help_text="The engine the size is on.")
    cpu_cores = serializers.FloatField()
    memory_gb = serializers.FloatField()
    gpus = serializers.IntegerField()
    kinds = serializers.ListField(child=serializers.CharField(), help_text="Kinds created in this size.")
    fields = serializers.DictField(help_text="The create request's fields that ask for this size.")


# ---- the OpenAPI schema of a create request: one shape per kind, from its form ----------


def create_request_schemas() -> dict[str, serializers.Serializer]:
    """For drf-spectacular: each addable kind's create body, read off its form's fields."""
    return {backend.kind: _form_serializer(backend)() for backend in addable_backends()}


def _form_serializer(backend) -> type[serializers.Serializer]:
    fields = {"kind": serializers.ChoiceField(choices=[backend.kind])}
    form_class = backend.config_form()
    defaults = _defaults(form_class)
    for name, field in form_class.base_fields.items():
        options = {
            "required": field.required and name not in defaults,
            "help_text": str(field.help_text or field.label or "") or None,
            "write_only": name in backend.secret_fields,
        }
        if name in defaults:
            options["default"] = defaults[name]
        if isinstance(field, forms.IntegerField):
            fields[name] = serializers.IntegerField(**options)
        elif isinstance(field, forms.FloatField):
            fields[name] = serializers.FloatField(**options)
        else:
            fields[name] = serializers.CharField(**options)
    component = "".join(part.title() for part in backend.kind.split("-")) + "TargetCreate"
    return type(component, (serializers.Serializer,), fields)
