"""In a real browser: run.js shows chunks strictly in seq order. A chunk that
arrives ahead of a gap waits while the page asks the server for what is
missing; nothing is lost, repeated or reordered."""

import json

import pytest
from django.db import transaction

from runs.models import RunLogChunk
from tests.factories import PASSWORD
from tests.servers import LivePortal

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def portal():
    portal = LivePortal()
    yield portal
    portal.stop()


def store(run, start, stop):
    with transaction.atomic():
        RunLogChunk.objects.bulk_create(
            [RunLogChunk(run=run, seq=i, stream="stdout", text=f"line {i}\n") for i in range(start, stop)]
        )


def shown_seqs(page, run):
    return page.evaluate(
        f"[...document.querySelectorAll('#run-{run.pk}-log span[data-seq]')].map((s) => +s.dataset.seq)"
    )


def test_a_chunk_ahead_of_a_gap_waits_for_the_missing_ones(page, portal, team, idle_run):
    run = idle_run
    store(run, 0, 10)
    page.goto(f"{portal.url}/login/")
    page.fill("#id_username", team.reader.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{portal.url}/")
    page.goto(f"{portal.url}/runs/{run.pk}/")
    page.wait_for_function(f"document.getElementById('run-{run.pk}-log').dataset.lastSeq === '9'")
    # 10..19 are stored, but only 15..19 reach the page (their pushes got ahead).
    store(run, 10, 20)
    ahead = {
        "type": "log",
        "metrics": [],
        "chunks": [{"seq": i, "stream": "stdout", "text": f"line {i}\n"} for i in range(15, 20)],
    }
    page.evaluate(
        "(frame) => document.getElementById('run-live').dispatchEvent(new CustomEvent("
        "'htmx:wsBeforeMessage', {detail: {message: frame}, cancelable: true}))",
        json.dumps(ahead),
    )
    # The page asks after seq 9 and shows 10..19 once they came, in order, once each.
    page.wait_for_function(
        f"document.getElementById('run-{run.pk}-log').dataset.lastSeq === '19'", timeout=10_000
    )
    assert shown_seqs(page, run) == list(range(20))
    text = page.locator(f"#run-{run.pk}-log").text_content()
    assert text == "".join(f"line {i}\n" for i in range(20))
