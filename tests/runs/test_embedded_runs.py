"""The embedded default runs scripts too: `manage.py serve` on SQLite, the
in-process Celery worker, submit through the form, the run completes."""

import re
import time

import pytest

from tests.test_embedded import embedded_portal, logged_in_session  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_submit_and_complete_on_the_embedded_default(embedded_portal):  # noqa: F811
    host, _ = embedded_portal
    base = f"http://{host}"
    session = logged_in_session(base)
    for _ in range(150):  # the local target's first check
        if ">Succeeded</span>" in session.get(f"{base}/compute/local/").text:
            break
        time.sleep(0.2)
    form = session.get(f"{base}/runs/new/").text
    target = re.search(r'<option value="(\d+)"[^>]*>local</option>', form).group(1)
    response = session.post(
        f"{base}/runs/new/",
        data={
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "target": target,
            "experiment": "embedded",
            "script": "train.py",
            "arguments": "3",
            "environment": "user",
            "interpreter": "python3",
            "paths": "proj/train.py",
        },
        files={
            "files": ("train.py", b"import sys\nfor i in range(int(sys.argv[1])):\n    print('hello', i)\n")
        },
        headers={"Referer": f"{base}/runs/new/"},
    )
    run_url = response.url
    assert re.search(r"/runs/\d+/$", run_url), response.text[:500]
    for _ in range(150):
        page = session.get(run_url).text
        if "Completed</span>" in page:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the run did not complete on the embedded default")
    log = session.get(f"{run_url}log/").text
    assert log == "hello 0\nhello 1\nhello 2\n"
