"""The test images' debootstrap mirror comes from the machine's apt sources."""

import pytest

from tests.podman import debian_mirror


def _apt(tmp_path, sources_list="", **lists):
    (tmp_path / "sources.list.d").mkdir()
    if sources_list:
        (tmp_path / "sources.list").write_text(sources_list)
    for name, text in lists.items():
        (tmp_path / "sources.list.d" / name.replace("_", ".")).write_text(text)
    return tmp_path


def test_one_line_sources_with_options(tmp_path):
    apt = _apt(
        tmp_path,
        "# deb http://commented.example/debian bookworm main\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://mirror.example/debian bookworm main contrib\n",
    )
    assert debian_mirror("bookworm", apt) == "http://mirror.example/debian"


def test_deb822_sources_skip_other_suites_components_and_disabled_stanzas(tmp_path):
    apt = _apt(
        tmp_path,
        other_list="deb https://packages.example/apt cloud-sdk-bookworm main\n",
        debian_sources=(
            "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n"
            "Components: main\n\n"
            "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n"
            "  \n"
            "Types: deb deb-src\n# a comment\nURIs: http://deb822.example/debian\n"
            "Suites: bookworm bookworm-updates\nComponents: main\n"
        ),
    )
    assert debian_mirror("bookworm", apt) == "http://deb822.example/debian"
    assert debian_mirror("bookworm-security", apt) == "http://security.example/debian-security"


def test_no_source_for_the_suite_is_a_clear_error(tmp_path):
    apt = _apt(tmp_path, "deb http://mirror.example/debian bullseye main\n")
    with pytest.raises(RuntimeError, match="No apt source for Debian bookworm main"):
        debian_mirror("bookworm", apt)
