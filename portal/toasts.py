from django.http import HttpResponse
from django.template.loader import render_to_string
from django_htmx.http import reswap, retarget


def toast_response(request, text: str, level: str = "danger") -> HttpResponse:
    """An htmx answer that adds one toast to the page and changes nothing else."""
    html = render_to_string("portal/_toast.html", {"text": text, "level": level}, request=request)
    return reswap(retarget(HttpResponse(html), "#toasts"), "beforeend")
