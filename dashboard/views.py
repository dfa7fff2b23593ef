import csv
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from compute.models import ComputeTarget
from portal.access import member_required
from portal.models import Role, WorkspaceQuota
from runs import quotas, usage
from runs.models import TargetPrice

from . import figures, ranges, report
from .db_functions import aggregating
from .forms import QuotaForm


def _range(request) -> ranges.Range:
    try:
        return ranges.from_request(request.GET)
    except ranges.RangeError as exc:
        messages.error(request, str(exc))
        return ranges.preset("24h")


@member_required()
def dashboard(request):
    workspace = request.workspace
    if request.htmx and request.GET.get("part") == "now":
        return render(request, "dashboard/dashboard.html#now", {"now": figures.now_state([workspace.pk])})
    rng = _range(request)
    quota = WorkspaceQuota.objects.filter(workspace=workspace).first()
    prices = dict(
        TargetPrice.objects.filter(target__workspace=workspace).values_list("target_id", "hourly_price")
    )
    with aggregating():
        figures_now, figures_range = figures.now_state([workspace.pk]), report.report([workspace.pk], rng)
    return render(
        request,
        "dashboard/dashboard.html",
        {
            "rng": rng,
            "query": request.GET.urlencode(),
            "now": figures_now,
            "report": figures_range,
            "quota": quota,
            "quota_form": QuotaForm(instance=quota, editable=request.membership.allows(Role.OWNER)),
            "quota_warnings": quotas.warnings(workspace),
            "priced_targets": [
                (target, prices.get(target.pk))
                for target in ComputeTarget.objects.filter(workspace=workspace).order_by("name")
            ],
        },
    )


@member_required()
def table_csv(request, key):
    """One of the page's tables as CSV, for the same range."""
    if key not in report.TABLES:
        raise Http404("No such table.")
    rng = _range(request)
    with aggregating():
        table = report.table(key, [request.workspace.pk], rng)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{request.workspace.slug}-{key}-{rng.name}.csv"'
    writer = csv.writer(response)
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if cell is None else _safe(cell) for cell in row])
    return response


def _safe(cell):
    """A text cell a spreadsheet would run as a formula is quoted."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


@require_POST
@member_required(Role.OWNER)
def prices_edit(request):
    """Owners' hourly prices per target node (blank removes one)."""
    targets = ComputeTarget.objects.filter(workspace=request.workspace)
    changed = 0
    for target in targets:
        field = f"price-{target.pk}"
        if field not in request.POST:
            continue
        text = request.POST[field].strip()
        try:
            price = Decimal(text) if text else None
            if price is not None and (not price.is_finite() or price < 0 or price >= 10**6):
                raise InvalidOperation
        except InvalidOperation:
            messages.error(request, f"{target.name}: “{text[:20]}” is not a price (a number such as 2.50).")
            return redirect("usage-dashboard")
        usage.target_price_set(target=target, hourly_price=price)
        changed += 1
    messages.success(
        request,
        f"Prices saved for {changed} target{'s' if changed != 1 else ''}: runs that start from now on are costed with them.",
    )
    return redirect("usage-dashboard")


@require_POST
@member_required(Role.OWNER)
def quota_edit(request):
    quota = WorkspaceQuota.objects.filter(workspace=request.workspace).first()
    form = QuotaForm(request.POST, instance=quota or WorkspaceQuota(workspace=request.workspace))
    if form.is_valid():
        form.save()
        messages.success(request, "Quotas saved: they apply to runs submitted from now on.")
    else:
        messages.error(request, "; ".join(f"{f}: {e[0]}" for f, e in form.errors.items()))
    return redirect("usage-dashboard")
