"""In a real browser: try the example, watch the log and the metric chart fill
in live, download the outputs; reconnecting the websocket loses nothing."""

import time
from pathlib import Path

import pytest

from runs.models import Run, RunStatus
from tests.factories import PASSWORD
from tests.servers import LivePortal

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "runs"


@pytest.fixture
def portal(worker):
    portal = LivePortal()
    yield portal
    portal.stop()


@pytest.fixture
def portal_url(portal):
    return portal.url


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    time.sleep(0.3)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page, base, user):
    page.goto(f"{base}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_try_the_example_in_the_browser(page, portal_url, team, local_target, tmp_path):
    sign_in(page, portal_url, team.contributor)
    page.click("text=Experiments")
    shot(page, "01-experiments-empty")
    page.click("#try-example")
    page.wait_for_url("**/runs/*/")
    run = Run.objects.get()
    log = page.locator(f"#run-{run.pk}-log")
    page.wait_for_selector(f"#run-{run.pk}-connection:has-text('live')", timeout=20_000)
    shot(page, "02-run-preparing")
    # The environment build streams as system lines, then the script's output.
    log.locator("text=/epoch +19/").wait_for(timeout=170_000)
    page.wait_for_selector(f"#run-{run.pk}-badge:has-text('Completed')", timeout=60_000)
    shot(page, "03-run-completed")
    points = page.evaluate(
        f"Chart.getChart(document.getElementById('run-{run.pk}-chart')).data.datasets[0].data.length"
    )
    assert points == 20
    text = log.inner_text()
    for epoch in range(20):
        assert text.count(f"epoch {epoch:3d} ") == 1, (
            f"epoch {epoch} shown {text.count(f'epoch {epoch:3d} ')} times"
        )

    with page.expect_download() as download:
        page.click("text=All as zip")
    saved = tmp_path / "outputs.zip"
    download.value.save_as(saved)
    import zipfile

    assert sorted(zipfile.ZipFile(saved).namelist()) == ["outputs/metrics.json", "outputs/model.pkl"]

    page.click("text=example-iris")
    page.wait_for_selector("#compare-chart")
    shot(page, "04-experiment-compare")


def test_reconnect_backfills_without_loss_or_duplicates(page, portal, portal_url, team, local_target, submit):
    script = "import time\nfor i in range(300):\n    print(f'tick {i}', flush=True)\n    time.sleep(0.01)\n"
    run = submit(local_target, {"train.py": script})
    sign_in(page, portal_url, team.reader)
    page.goto(f"{portal_url}/runs/{run.pk}/")
    page.wait_for_selector(f"#run-{run.pk}-connection:has-text('live')", timeout=20_000)
    page.locator(f"#run-{run.pk}-log").locator("text=tick 50").wait_for(timeout=30_000)
    # The server restarts mid-run, dropping the socket: htmx reconnects and the
    # page asks for everything after its last seq.
    portal.restart()
    page.wait_for_selector(f"#run-{run.pk}-badge:has-text('Completed')", timeout=60_000)
    page.wait_for_function(
        f"document.getElementById('run-{run.pk}-log').textContent.includes('tick 299')", timeout=30_000
    )
    text = page.locator(f"#run-{run.pk}-log").text_content()
    assert text == "".join(f"tick {i}\n" for i in range(300))
    shot(page, "05-run-after-reconnect")
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED


def test_submit_a_folder_with_preview(page, portal_url, team, local_target, tmp_path):
    folder = tmp_path / "my-project"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "train.py").write_text("import sys\nprint('args', sys.argv[1:])\n")
    (folder / "data").mkdir()
    (folder / "data" / "big.csv").write_text("1,2\n" * 1000)
    (folder / ".amlignore").write_text("data/\n")
    sign_in(page, portal_url, team.contributor)
    page.goto(f"{portal_url}/runs/new/")
    page.set_input_files("#folder-input", str(folder))
    page.click("#preview-button")
    page.wait_for_selector("#snapshot-preview input[name=snapshot][value]", state="attached")
    preview = page.locator("#snapshot-preview").inner_text()
    assert "2 files" in preview and "src/train.py" in preview and "1 excluded by .amlignore" in preview
    page.fill("#id_experiment", "from-browser")
    page.fill("#id_script", "src/train.py")
    page.fill("#id_arguments", "--name 'two words'")
    shot(page, "06-submit-previewed")
    page.click("#submit-run")
    page.wait_for_url("**/runs/*/")
    run = Run.objects.get()
    page.wait_for_selector(f"#run-{run.pk}-badge:has-text('Completed')", timeout=60_000)
    page.locator(f"#run-{run.pk}-log").locator("text=args ['--name', 'two words']").wait_for(timeout=10_000)
    assert run.snapshot.file_count == 2
    shot(page, "07-submitted-run")


def test_failed_run_shows_exit_code_and_stderr_tail(page, portal_url, team, local_target, submit):
    script = "import sys\nprint('working')\nprint('bad input: x', file=sys.stderr)\nsys.exit(4)\n"
    run = submit(local_target, {"train.py": script})
    sign_in(page, portal_url, team.reader)
    page.goto(f"{portal_url}/runs/{run.pk}/")
    page.wait_for_selector(f"#run-{run.pk}-badge:has-text('Failed')", timeout=60_000)
    error = page.locator(f"#run-{run.pk}-error").inner_text()
    assert "The script exited with code 4." in error and "exit code 4" in error and "bad input: x" in error
    assert page.locator(f"#run-{run.pk}-cancel").count() == 0
    shot(page, "08-run-failed")


def test_a_hundred_thousand_lines_keep_the_page_bounded_and_responsive(
    page, portal_url, team, local_target, submit
):
    script = (
        "import time\n"
        "for i in range(100000):\n"
        "    print(f'line {i:06d} ' + 'x' * 40)\n"
        "    if i % 20000 == 0: time.sleep(0.2)\n"
    )
    sign_in(page, portal_url, team.reader)
    run = submit(local_target, {"train.py": script})
    page.goto(f"{portal_url}/runs/{run.pk}/")
    page.wait_for_selector(f"#run-{run.pk}-badge:has-text('Completed')", timeout=90_000)
    page.wait_for_function(
        f"document.getElementById('run-{run.pk}-log').textContent.includes('line 099999')", timeout=30_000
    )
    started = time.monotonic()
    assert page.evaluate("1 + 1") == 2
    assert time.monotonic() - started < 1.0, "the page is frozen"
    shown = page.locator(f"#run-{run.pk}-log").text_content()
    assert len(shown) <= 450_000, "the page must keep a bounded tail"
    tail = shown.splitlines()[-1000:]
    assert tail == [f"line {i:06d} " + "x" * 40 for i in range(99000, 100000)]
    shot(page, "09-run-100k-lines")


def test_cancel_from_the_run_page(page, portal_url, team, local_target, submit):
    run = submit(local_target, {"train.py": "import time\nprint('waiting', flush=True)\ntime.sleep(300)\n"})
    sign_in(page, portal_url, team.contributor)
    page.goto(f"{portal_url}/runs/{run.pk}/")
    page.locator(f"#run-{run.pk}-log").locator("text=waiting").wait_for(timeout=30_000)
    page.on("dialog", lambda dialog: dialog.accept())
    page.click(f"#run-{run.pk}-cancel")
    page.wait_for_selector(f"#run-{run.pk}-badge:has-text('Canceled')", timeout=30_000)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED
    shot(page, "10-run-canceled")


def test_a_run_over_its_log_cap_says_so_on_its_page(page, portal_url, team, local_target, submit, settings):
    settings.RUN_LOG_MAX_BYTES = 4_000
    script = "for i in range(2000):\n    print(f'line {i:05d} ' + 'x' * 40)\n"
    run = submit(local_target, {"train.py": script})
    sign_in(page, portal_url, team.reader)
    page.goto(f"{portal_url}/runs/{run.pk}/")
    page.wait_for_selector(f"#run-{run.pk}-badge:has-text('Completed')", timeout=60_000)
    banner = page.locator(f"#run-{run.pk}-log-truncated").inner_text()
    assert "The stored log was truncated" in banner
    page.wait_for_selector(f"#run-{run.pk}-log:has-text('reached its')", timeout=10_000)
    assert "line 01999" not in page.locator(f"#run-{run.pk}-log").inner_text()
    shot(page, "09-run-log-truncated")
