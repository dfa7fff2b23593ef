"""unpack_outputs: a run's outputs archive under limits, hostile members skipped."""

import tarfile

import pytest

from runs.outputs import OutputsError, unpack_outputs

from .archive_corpus import _special, _tar_header_bomb, tar_bytes


def write_tar(path, members):
    path.write_bytes(tar_bytes(members))
    return path


def tree(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture
def dest(tmp_path):
    return tmp_path / "run" / "dest"


def test_files_land_under_dest_outputs(tmp_path, dest):
    archive = write_tar(
        tmp_path / "o.tar.gz", [("outputs/model.txt", b"weights"), ("outputs/sub/n.txt", b"n" * 10)]
    )
    result = unpack_outputs(archive, dest)
    assert sorted(result.files) == [("model.txt", 7), ("sub/n.txt", 10)]
    assert result.skipped_reason == ""
    assert tree(dest) == ["outputs/model.txt", "outputs/sub/n.txt"]
    assert (dest / "outputs" / "model.txt").read_bytes() == b"weights"


def test_traversal_links_devices_and_strays_are_skipped(tmp_path, dest):
    members = [
        ("outputs/ok.txt", b"ok"),
        ("outputs/../../escaped.txt", b"owned"),
        ("/tmp/abs.txt", b"owned"),
        ("elsewhere.txt", b"not an output"),
        _special("outputs/passwd", tarfile.SYMTYPE, "/etc/passwd"),
        _special("outputs/hard", tarfile.LNKTYPE, "/etc/passwd"),
        _special("outputs/null", tarfile.CHRTYPE),
        _special("outputs/pipe", tarfile.FIFOTYPE),
    ]
    result = unpack_outputs(write_tar(tmp_path / "o.tar.gz", members), dest)
    assert result.files == [("ok.txt", 2)]
    assert "7 member(s) skipped: links, devices or paths outside outputs/" in result.skipped_reason
    assert tree(tmp_path / "run") == ["dest/outputs/ok.txt"]
    assert not list((tmp_path / "run").rglob("escaped.txt")) and not (tmp_path / "escaped.txt").exists()


def test_byte_limit_keeps_what_fit(tmp_path, dest, settings):
    settings.PORTAL_OUTPUTS_MAX_MB = 1
    mb = 1024 * 1024
    members = [
        ("outputs/a.bin", b"a" * (mb // 2)),
        ("outputs/b.bin", b"b" * (mb // 2)),
        ("outputs/c.bin", b"c"),
    ]
    result = unpack_outputs(write_tar(tmp_path / "o.tar.gz", members), dest)
    assert [path for path, _ in result.files] == ["a.bin", "b.bin"]
    assert result.skipped_reason == "Outputs over the 1 MB limit: 2 files kept, the rest skipped."
    assert tree(dest) == ["outputs/a.bin", "outputs/b.bin"]


def test_bomb_is_stopped_at_the_limit(tmp_path, dest, settings):
    settings.PORTAL_OUTPUTS_MAX_MB = 2
    members = [("outputs/small.txt", b"x"), ("outputs/zeros.bin", b"\0" * (64 * 1024 * 1024))]
    archive = write_tar(tmp_path / "o.tar.gz", members)
    assert archive.stat().st_size < 200 * 1024
    result = unpack_outputs(archive, dest)
    assert result.files == [("small.txt", 1)]
    assert "over the 2 MB limit" in result.skipped_reason
    assert tree(dest) == ["outputs/small.txt"]


def test_member_limit_keeps_the_first(tmp_path, dest, settings):
    settings.PORTAL_OUTPUTS_MAX_FILES = 5
    members = [(f"outputs/f{i:02}.txt", b"x") for i in range(12)]
    result = unpack_outputs(write_tar(tmp_path / "o.tar.gz", members), dest)
    assert [path for path, _ in result.files] == [f"f{i:02}.txt" for i in range(5)]
    assert result.skipped_reason == "Outputs over the 5 file limit: 5 files kept, the rest skipped."
    assert len(tree(dest)) == 5


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "header bomb"])
def test_corrupt_archive_raises_outputs_error(tmp_path, dest, damage):
    good = write_tar(tmp_path / "good.tar.gz", [("outputs/a.txt", b"a" * 5000)]).read_bytes()
    data = {
        "truncated": good[: len(good) // 2],
        "garbage": b"\x1f\x8b" + b"garbage" * 50,
        "empty": b"",
        "header bomb": _tar_header_bomb(32 * 1024 * 1024),
    }[damage]
    (tmp_path / "bad.tar.gz").write_bytes(data)
    with pytest.raises(OutputsError, match="outputs archive"):
        unpack_outputs(tmp_path / "bad.tar.gz", dest)
