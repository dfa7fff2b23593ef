from django import forms

from portal.models import WorkspaceQuota


class QuotaForm(forms.ModelForm):
    class Meta:
        model = WorkspaceQuota
        fields = ["max_concurrent_gpus", "max_concurrent_nodes", "monthly_gpu_hours"]
        help_texts = {"monthly_gpu_hours": "Blank: no limit. Counted in the portal's time zone."}

    def __init__(self, *args, editable: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.update({"class": "form-control form-control-sm", "placeholder": "no limit"})
            field.disabled = not editable
