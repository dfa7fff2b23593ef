"""Where a waiting job stands, from one squeue listing (slurm_jobs.queue_positions / queue_note)."""

from compute.backends.slurm_jobs import queue_note, queue_positions

# (id, state, reason, partition, name, priority), as SLURM_POLL's queue lines parse
JOBS = {
    "7": ("7", "RUNNING", "None", "dedicated", "portal-a", "100"),
    "8": ("8", "PENDING", "Resources", "dedicated", "portal-b", "100"),
    "9": ("9", "PENDING", "Priority", "dedicated", "nightly", "500"),
    "10": ("10", "PENDING", "Priority", "dedicated", "portal-c", "100"),
    "11": ("11", "PENDING", "Resources", "lowpriority", "portal-d", "1"),
    "12": ("12", "CONFIGURING", "None", "dedicated", "portal-e", "100"),
}


def test_positions_follow_priority_then_age_within_each_partition():
    assert queue_positions(JOBS) == {"9": (1, 3), "8": (2, 3), "10": (3, 3), "11": (1, 1)}


def test_the_note_says_partition_position_and_slurms_reason():
    positions = queue_positions(JOBS)
    assert (
        queue_note(JOBS["10"], positions) == "Queued in `dedicated`, position 3 of 3 — Slurm says: Priority"
    )
    assert (
        queue_note(JOBS["11"], positions)
        == "Queued in `lowpriority`, position 1 of 1 — Slurm says: Resources"
    )
    assert queue_note(JOBS["12"], positions) == "Nodes allocated in `dedicated`: Slurm is starting them"
