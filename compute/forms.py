from django import forms

from .models import ComputeTarget, name_validator

RESERVED_NAMES = {"add", "local"}


class TargetForm(forms.Form):
    """Fields every kind's form starts with. Subclasses add their own and
    implement ``to_target()``."""

    name = forms.CharField(
        max_length=32,
        validators=[name_validator],
        help_text="Unique in this workspace; used in URLs and run configurations.",
    )

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace

    def clean_name(self):
        name = self.cleaned_data["name"]
        if name in RESERVED_NAMES:
            raise forms.ValidationError(f"“{name}” is reserved; pick another name.")
        if ComputeTarget.objects.filter(workspace=self.workspace, name=name).exists():
            raise forms.ValidationError(f"A compute target named “{name}” already exists here.")
        return name

    def to_target(self) -> dict:
        """``{"name", "config", "secrets", "host_key"}`` from cleaned data."""
        raise NotImplementedError


class SecretTextarea(forms.Textarea):
    """A textarea that never renders its value back (private keys)."""

    def format_value(self, value):
        return None


class SecretReplaceForm(forms.Form):
    value = forms.CharField(widget=forms.PasswordInput(render_value=False), strip=False)
