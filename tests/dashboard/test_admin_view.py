from datetime import timedelta

from django.utils import timezone

from .builders import allocate, make_run, make_target


def test_superusers_see_every_workspaces_usage_and_staff_do_not(team, login):
    from django.contrib.auth import get_user_model

    now = timezone.now()
    allocate(
        make_run(team.workspace, team.owner, target=make_target(team.workspace, "ours")),
        now - timedelta(hours=2),
        now - timedelta(hours=1),
        gpus=1,
    )
    allocate(
        make_run(team.other_workspace, team.outsider, target=make_target(team.other_workspace, "theirs")),
        now - timedelta(hours=3),
        now - timedelta(hours=1),
        gpus=4,
    )
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123456")
    page = login(root).get("/admin/runs/runallocation/installation/?range=7d").content.decode()
    assert "Vision team" in page and "Other team" in page
    assert "9.00 GPU-hours" in page  # 1 + 8
    assert "Usage across all workspaces" in login(root).get("/admin/runs/runallocation/").content.decode()
    staff = get_user_model().objects.create_user("staff", password="pw-staff-123456", is_staff=True)
    assert login(staff).get("/admin/runs/runallocation/installation/").status_code == 403
    assert (
        login(team.owner).get("/admin/runs/runallocation/installation/").status_code == 302
    )  # not staff: login
