"""The OpenAPI schema is valid, and every operation in it refuses a request
without credentials."""

import re

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

PARAMS = {"workspace": "vision-team", "pk": "1", "id": "1", "sha256": "a" * 64, "name": "x", "path": "a.txt"}


@pytest.fixture
def schema(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    return yaml.safe_load(out.read_text())


def test_schema_validates_and_describes_bearer_tokens(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal access token (pat_…).",
    }
    assert any(p.endswith("/runs/{id}/logs/") for p in schema["paths"])


def test_every_operation_needs_credentials(schema, team):
    client = APIClient()
    checked = 0
    for template, operations in schema["paths"].items():
        url = re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], template)
        for method in operations:
            if method not in ("get", "post", "put", "patch", "delete", "head"):
                continue
            response = getattr(client, method)(url)
            assert response.status_code == 401, f"{method.upper()} {url} answered {response.status_code}"
            checked += 1
    assert checked >= 15


def test_the_docs_page_is_served_offline(client):
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html and "cdn" not in html.lower() and "/static/drf_spectacular_sidecar/" in html
