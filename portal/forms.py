from django import forms
from django.contrib.auth.validators import UnicodeUsernameValidator

from .models import Role, Workspace


class MemberAddForm(forms.Form):
    username_or_email = forms.CharField(
        label="Username or e-mail",
        max_length=254,
        help_text="Someone who has an account here. The portal sends no mail.",
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.CONTRIBUTOR)


class UserCreateForm(forms.Form):
    """A new account for a superuser to make; the portal picks a one-time password."""

    prefix = "new"

    username = forms.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = forms.EmailField(label="E-mail", required=False)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.CONTRIBUTOR)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class TokenCreateForm(forms.Form):
    """A personal access token: what uses it, where, what it may do, how long."""

    EXPIRY_DAYS = ((7, "7 days"), (30, "30 days"), (90, "90 days"), (365, "1 year"))

    name = forms.CharField(
        max_length=100, help_text="What will use it, e.g. “laptop”, “nightly training job”."
    )
    workspace = forms.ModelChoiceField(
        queryset=Workspace.objects.none(),
        empty_label=None,
        help_text="The token works in this workspace only.",
    )
    read_only = forms.BooleanField(
        label="Read-only",
        required=False,
        help_text="It can list and follow targets and runs, but not add, change or submit anything.",
    )
    days = forms.TypedChoiceField(label="Expires after", choices=EXPIRY_DAYS, coerce=int, initial=90)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = Workspace.objects.filter(memberships__user=user)
