"""Requests are throttled per token: one busy script does not starve another."""

from portal.api.throttling import PerTokenThrottle


def test_a_token_over_its_rate_gets_429_with_retry_after(team, api, monkeypatch):
    monkeypatch.setattr(PerTokenThrottle, "THROTTLE_RATES", {"api": "3/min"})
    busy = api(team.reader, team.workspace)
    url = f"/api/v1/workspaces/{team.workspace.slug}/"
    assert [busy.get(url).status_code for _ in range(3)] == [200, 200, 200]
    refused = busy.get(url)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "throttled" in refused.json()["detail"].lower()
    other = api(team.contributor, team.workspace)
    assert other.get(url).status_code == 200
