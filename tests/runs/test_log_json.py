"""The JSON log endpoint reads one bounded page, cut in SQL, never the whole log."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from runs.models import RunLogChunk
from runs.views import LOG_PAGE_MAX

TOTAL = 12_000


@pytest.fixture
def long_run(idle_run):
    run = idle_run
    RunLogChunk.objects.bulk_create(
        [RunLogChunk(run=run, seq=i, stream="stdout", text=f"line {i}\n") for i in range(TOTAL)],
        batch_size=4000,
    )
    return run


def get_page(client, run, **params):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("run-log", args=[run.pk]), {"format": "json", **params})
    assert response.status_code == 200
    chunk_reads = [q["sql"] for q in queries.captured_queries if "runs_runlogchunk" in q["sql"]]
    return json.loads(response.content), chunk_reads


def test_a_page_is_cut_in_sql(team, login, long_run):
    data, reads = get_page(login(team.reader), long_run, after=-1)
    assert [c["seq"] for c in data["chunks"]] == list(range(LOG_PAGE_MAX))
    assert data["more"] is True
    assert len(reads) == 1 and f"LIMIT {LOG_PAGE_MAX + 1}" in reads[0]


def test_pages_follow_by_seq_to_the_end(team, login, long_run):
    client = login(team.reader)
    data, reads = get_page(client, long_run, after=9990, limit=5)
    assert [c["seq"] for c in data["chunks"]] == [9991, 9992, 9993, 9994, 9995]
    assert data["chunks"][0] == {"seq": 9991, "stream": "stdout", "text": "line 9991\n"}
    assert data["more"] is True and "LIMIT 6" in reads[0]
    data, _ = get_page(client, long_run, after=TOTAL - 4)
    assert [c["seq"] for c in data["chunks"]] == [TOTAL - 3, TOTAL - 2, TOTAL - 1]
    assert data["more"] is False


@pytest.mark.parametrize("limit", ["0", "-3", "999999", "many"])
def test_a_bad_or_huge_limit_stays_within_the_bounds(team, login, long_run, limit):
    data, reads = get_page(login(team.reader), long_run, after=-1, limit=limit)
    assert 1 <= len(data["chunks"]) <= LOG_PAGE_MAX
    assert len(reads) == 1 and "LIMIT" in reads[0]


def test_another_workspace_cannot_read_the_log(team, login, long_run):
    response = login(team.outsider).get(reverse("run-log", args=[long_run.pk]), {"format": "json"})
    assert response.status_code == 404
