from django import forms
from django.db import models

from .models import ComputeTarget, name_validator

RESERVED_NAMES = {"add", "local"}


class TargetForm(forms.Form):
    """Fields every kind's form starts with. Subclasses add their own and
    implement ``to_target()``.

    With ``instance`` (a saved target), the form checks that target's config:
    its own name is not a clash and its stored secrets count as given."""

    name = forms.CharField(
        max_length=32,
        validators=[name_validator],
        help_text="Unique in this workspace; used in URLs and run configurations.",
    )

    def __init__(self, *args, workspace, instance=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.instance = instance

    def clean_name(self):
        name = self.cleaned_data["name"]
        if self.instance is not None and name == self.instance.name:
            return name
        if name in RESERVED_NAMES:
            raise forms.ValidationError(f"“{name}” is reserved; pick another name.")
        clashes = ComputeTarget.objects.filter(workspace=self.workspace, name=name)
        if self.instance is not None and self.instance.pk:
            clashes = clashes.exclude(pk=self.instance.pk)
        if clashes.exists():
            raise forms.ValidationError(f"A compute target named “{name}” already exists here.")
        return name

    def has_secret(self, field: str) -> bool:
        """Given in this form, or already stored on the instance being checked."""
        given = self.cleaned_data.get(field)
        return bool(given) or (self.instance is not None and self.instance.has_secret(field))

    def to_target(self) -> dict:
        """``{"name", "config", "secrets", "host_key"}`` from cleaned data."""
        raise NotImplementedError


class SecretTextarea(forms.Textarea):
    """A textarea that never renders its value back (private keys)."""

    def format_value(self, value):
        return None


class SecretReplaceForm(forms.Form):
    value = forms.CharField(widget=forms.PasswordInput(render_value=False), strip=False)


class PackageIndexForm(forms.Form):
    """Package index settings (compute/package_index.py); the CA bundle is never shown back."""

    index_url = forms.CharField(
        label="Index URL",
        required=False,
        help_text="e.g. https://pypi.example.com/simple (pip's --index-url).",
    )
    extra_index_urls = forms.CharField(
        label="Extra index URLs",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One a line.",
    )
    ca_bundle = forms.CharField(
        label="Trusted CA bundle (PEM)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        help_text="For TLS-inspecting proxies. Leave empty to keep the stored one.",
    )
    clear_ca = forms.BooleanField(label="Remove the stored CA bundle", required=False)


class NodeSizeForm(forms.ModelForm):
    """A workspace's own node size (installation-wide ones are edited in the admin)."""

    class Meta:
        from .models import NodeSize

        model = NodeSize
        fields = ["name", "cpu_cores", "memory_gb", "gpus", "hourly_price"]
        labels = {"cpu_cores": "CPU cores", "memory_gb": "Memory (GB)", "gpus": "GPUs"}
        help_texts = {"hourly_price": "Optional: one node's price per hour, for the usage dashboards."}

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        if not self.instance.pk:
            self.instance.workspace = workspace

    def clean_name(self):
        from .models import NodeSize

        name = self.cleaned_data["name"]
        taken = NodeSize.objects.filter(name=name).filter(
            models.Q(workspace=None) | models.Q(workspace=self.workspace)
        )
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(f"A size named “{name}” is already offered here; pick another name.")
        return name
