"""Snapshots: ignore rules, limits, content addressing and hostile archives."""

import io
import tarfile
import zipfile

import pytest

from runs import services, snapshots
from runs.models import Snapshot

from .conftest import folder_upload, tar_gz, zip_file

SMALL = snapshots.Limits(max_bytes=2 * 1024 * 1024, max_files=20, max_ratio=50)


def build(**kwargs):
    return snapshots.build(limits=kwargs.pop("limits", SMALL), **kwargs)


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


def stored_files(var_dir):
    return sorted(p.name for p in (var_dir / "snapshots").iterdir())


def test_same_folder_is_stored_once(team, var_dir):
    files = {"train.py": "print('hi')\n", "lib/util.py": "X = 1\n"}
    first = services.snapshot_create(workspace=team.workspace, files=folder_upload(files))
    again = services.snapshot_create(workspace=team.workspace, files=folder_upload(files, top="other-name"))
    assert first.pk == again.pk
    assert stored_files(var_dir) == [f"{first.sha256}.tar.gz"]
    assert Snapshot.objects.count() == 1
    assert first.file_count == 2 and first.size_bytes == len("print('hi')\n") + len("X = 1\n")


def test_same_content_as_zip_and_tar_hashes_the_same():
    members = [("src/a.py", b"a = 1\n"), ("b.txt", b"bee\n")]
    assert build(upload=zip_file(members)).sha256 == build(upload=tar_gz(members)).sha256


def test_different_content_hashes_differently(team, var_dir):
    one = services.snapshot_create(workspace=team.workspace, files=folder_upload({"train.py": "1"}))
    two = services.snapshot_create(workspace=team.workspace, files=folder_upload({"train.py": "2"}))
    assert one.sha256 != two.sha256
    assert len(stored_files(var_dir)) == 2


def test_amlignore_wins_over_gitignore():
    packed = build(
        files=folder_upload(
            {
                "train.py": "x",
                "data/big.csv": "1,2,3",
                "notes.log": "log",
                ".gitignore": "*.py\n",
                ".amlignore": "data/\n*.log\n",
            }
        )
    )
    kept = sorted(path for path, _ in packed.analysis.files)
    assert kept == [".amlignore", ".gitignore", "train.py"]
    assert sorted(packed.analysis.excluded) == ["data/big.csv", "notes.log"]
    assert packed.analysis.ignore_file == ".amlignore"


def test_gitignore_used_without_amlignore():
    packed = build(files=folder_upload({"train.py": "x", "cache/x.bin": "b", ".gitignore": "cache/\n"}))
    assert packed.analysis.excluded == ["cache/x.bin"]


def test_ignored_files_do_not_count_towards_limits_or_hash():
    base = {"train.py": "x", ".amlignore": "data/\n"}
    one = build(files=folder_upload(base))
    two = build(files=folder_upload({**base, "data/huge.bin": "0" * 1000}))
    assert one.sha256 == two.sha256


def test_too_many_files():
    files = {f"f{i}.py": "x" for i in range(21)}
    with pytest.raises(snapshots.SnapshotError, match="More than 20 files"):
        build(files=folder_upload(files))


def test_too_many_bytes():
    with pytest.raises(snapshots.SnapshotError, match="More than 2 MB"):
        build(files=folder_upload({"big.bin": b"\x01" * (3 * 1024 * 1024)}))


def test_limits_come_from_settings(team, settings):
    settings.SNAPSHOT_MAX_FILES = 1
    with pytest.raises(services.RunError, match="More than 1 files"):
        services.snapshot_create(workspace=team.workspace, files=folder_upload({"a.py": "1", "b.py": "2"}))


# ---- hostile archives: rejected, and nothing written outside the staging folder -------------


@pytest.fixture
def outside(tmp_path):
    """A folder next to the store that hostile members aim at."""
    return tmp_path


def assert_nothing_escaped(tmp_path, var_dir):
    escaped = [p for p in tmp_path.rglob("*") if var_dir not in p.parents and p != var_dir]
    assert escaped == [], f"written outside the snapshot folder: {escaped}"
    leftovers = [p for p in (var_dir / "snapshots").iterdir()] if (var_dir / "snapshots").exists() else []
    assert leftovers == [], f"a rejected upload left {leftovers}"


@pytest.mark.parametrize(
    "name",
    ["/etc/evil.py", "../evil.py", "src/../../evil.py", "a/../../../tmp/evil.py", "C:/evil.py"],
)
def test_tar_with_escaping_path_is_rejected(name, tmp_path, var_dir):
    with pytest.raises(snapshots.SnapshotError, match="absolute path|climbs out"):
        build(upload=tar_gz([("ok.py", b"x"), (name, b"owned")]))
    assert_nothing_escaped(tmp_path, var_dir)


@pytest.mark.parametrize("name", ["/abs.py", "../up.py", "x/../../up.py"])
def test_zip_with_escaping_path_is_rejected(name, tmp_path, var_dir):
    with pytest.raises(snapshots.SnapshotError, match="absolute path|climbs out"):
        build(upload=zip_file([("ok.py", b"x"), (name, b"owned")]))
    assert_nothing_escaped(tmp_path, var_dir)


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_tar_links_are_rejected(kind, tmp_path, var_dir):
    link = tarfile.TarInfo("passwd")
    link.type = kind
    link.linkname = "/etc/passwd"
    with pytest.raises(snapshots.SnapshotError, match="is a link"):
        build(upload=tar_gz([("ok.py", b"x"), link]))
    assert_nothing_escaped(tmp_path, var_dir)


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_tar_devices_are_rejected(kind, tmp_path, var_dir):
    device = tarfile.TarInfo("dev-null")
    device.type = kind
    with pytest.raises(snapshots.SnapshotError, match="device or special file"):
        build(upload=tar_gz([device]))
    assert_nothing_escaped(tmp_path, var_dir)


def test_zip_symlink_is_rejected(tmp_path, var_dir):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777) << 16
        archive.writestr(info, "/etc/passwd")
    from django.core.files.uploadedfile import SimpleUploadedFile

    with pytest.raises(snapshots.SnapshotError, match="symbolic link"):
        build(upload=SimpleUploadedFile("x.zip", buffer.getvalue()))
    assert_nothing_escaped(tmp_path, var_dir)


def test_zip_bomb_is_rejected_by_ratio(tmp_path, var_dir):
    limits = snapshots.Limits(max_bytes=500 * 1024 * 1024, max_files=20, max_ratio=50)
    bomb = zip_file([("zeros.bin", b"\0" * (20 * 1024 * 1024))])
    assert bomb.size < 100 * 1024
    with pytest.raises(snapshots.SnapshotError, match="zip bomb"):
        build(upload=bomb, limits=limits)
    assert_nothing_escaped(tmp_path, var_dir)


def test_tar_bomb_is_rejected_by_ratio(tmp_path, var_dir):
    limits = snapshots.Limits(max_bytes=500 * 1024 * 1024, max_files=20, max_ratio=50)
    with pytest.raises(snapshots.SnapshotError, match="zip bomb"):
        build(upload=tar_gz([("zeros.bin", b"\0" * (20 * 1024 * 1024))]), limits=limits)
    assert_nothing_escaped(tmp_path, var_dir)


def test_zip_declaring_more_than_the_limit_is_rejected(tmp_path, var_dir):
    with pytest.raises(snapshots.SnapshotError, match="over the 2 MB snapshot limit"):
        build(upload=zip_file([("a.bin", b"\0" * (3 * 1024 * 1024))]))


def test_not_an_archive():
    from django.core.files.uploadedfile import SimpleUploadedFile

    with pytest.raises(snapshots.SnapshotError, match="Not a valid .zip"):
        build(upload=SimpleUploadedFile("x.zip", b"hello"))
    with pytest.raises(snapshots.SnapshotError, match="Upload a folder, a .zip or a .tar.gz"):
        build(upload=SimpleUploadedFile("x.rar", b"hello"))


def test_folder_upload_with_escaping_path_is_rejected(tmp_path, var_dir):
    from django.core.files.uploadedfile import SimpleUploadedFile

    with pytest.raises(snapshots.SnapshotError, match="climbs out"):
        build(
            files=[
                ("proj/ok.py", SimpleUploadedFile("ok.py", b"x")),
                ("proj/../../x.py", SimpleUploadedFile("x", b"x")),
            ]
        )
    assert_nothing_escaped(tmp_path, var_dir)


def test_stored_archive_is_deterministic_and_extracts(tmp_path):
    files = {"train.py": "print(1)\n", "pkg/mod.py": "Y = 2\n"}
    packed = build(files=folder_upload(files))
    data = snapshots.archive_path(packed.sha256).read_bytes()
    snapshots.archive_path(packed.sha256).unlink()
    again = build(files=folder_upload(files))
    assert snapshots.archive_path(again.sha256).read_bytes() == data
    dest = tmp_path / "x"
    snapshots.extract_stored(again.sha256, dest)
    assert (dest / "pkg" / "mod.py").read_text() == "Y = 2\n"


# ---- damaged archives and bounded ignore rules -------------------------------------------------


@pytest.mark.parametrize(
    "case, message",
    [
        ("zip encrypted", "is encrypted"),
        ("zip bzip2 method", "compression method 12"),
        ("zip aes method", "compression method 99"),
        ("zip truncated", "Not a valid .zip"),
        ("empty tar.gz file", "Not a valid .tar.gz"),
        ("tar pax header bomb", "too large to be genuine"),
        ("tar non-utf8 name", "not a valid UTF-8 name"),
        ("zip very deep", "nested more than 64 folders"),
        ("zip long name", "longer than 1024 characters"),
        ("zip file and folder of one name", "needs a folder where the archive has a file"),
    ],
)
def test_damaged_and_hostile_archives_are_refused_with_a_message(case, message, tmp_path, var_dir):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from .archive_corpus import named_cases

    cases = {name: (filename, data) for name, filename, data in named_cases(SMALL.max_files)}
    filename, data = cases[case]
    with pytest.raises(snapshots.SnapshotError, match=message):
        build(upload=SimpleUploadedFile(filename, data))
    assert_nothing_escaped(tmp_path, var_dir)


def test_ignore_rules_over_the_pattern_count_are_refused():
    rules = "\n".join(f"dir{i}/" for i in range(1001))
    with pytest.raises(snapshots.SnapshotError, match="1001 patterns: at most 1000"):
        build(files=folder_upload({"train.py": "x", ".amlignore": rules}))


def test_ignore_rules_with_a_too_long_pattern_are_refused():
    rules = "# comments do not count\n*.log\n" + "a" * 501 + "\n"
    with pytest.raises(
        snapshots.SnapshotError, match="line 3 is 501 characters long: patterns may have at most 500"
    ):
        build(files=folder_upload({"train.py": "x", ".gitignore": rules}))


def test_a_backtracking_pattern_matches_in_linear_time():
    import time

    from runs import ignore_rules

    spec = ignore_rules.parse("*a*a*a*a*a*a*a*a*a*a*a*a*b\n")
    started = time.perf_counter()
    assert not spec.match_file("a" * 200)
    assert spec.match_file("x/" + "a" * 12 + "b")
    assert time.perf_counter() - started < 0.5  # Python's re: hours for 200 characters


def test_gitignore_semantics_are_kept():
    from runs import ignore_rules

    spec = ignore_rules.parse("build/\n*.pyc\n!keep.pyc\ndata/**/raw\n/top.txt\n")
    paths = ["build/x.py", "a/b.pyc", "keep.pyc", "data/1/2/raw", "top.txt", "sub/top.txt", "ok.py"]
    assert [spec.match_file(p) for p in paths] == [True, True, False, True, True, False, False]
