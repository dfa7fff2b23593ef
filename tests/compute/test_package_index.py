"""Package index settings: validation, encryption at rest, overrides, and what builds get."""

import datetime
import tarfile

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ValidationError

from compute import package_index
from compute.backends.docker_images import build_context
from compute.models import ComputeTarget
from compute.services import rotate_secret_keys
from portal.models import Workspace
from runs.executor import _build_settings
from tests.secret_scan import plant


def make_ca_pem(name: str = "Portal Test Proxy CA") -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
def workspace(team):
    return Workspace.objects.get(pk=team.workspace.pk)


@pytest.fixture
def target(workspace):
    return ComputeTarget.objects.get(workspace=workspace, kind="local")


@pytest.mark.parametrize(
    "url",
    ["ftp://pypi.example.com/simple", "not a url", "https://", "https://x.example.com/a b", "'; rm -rf /"],
)
def test_bad_index_urls_are_refused_with_a_message(workspace, url):
    with pytest.raises(ValidationError, match="Not an index URL"):
        package_index.package_index_set(owner=workspace, index_url=url)
    workspace.refresh_from_db()
    assert workspace.package_index == {}


def test_extra_urls_are_checked_one_by_one(workspace):
    with pytest.raises(ValidationError, match="Not an index URL"):
        package_index.package_index_set(
            owner=workspace, extra_index_urls="https://a.example.com/simple\njavascript:alert(1)"
        )


@pytest.mark.parametrize("text", ["hello", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"])
def test_a_bundle_must_be_pem_certificates(workspace, text):
    with pytest.raises(ValidationError, match="Not a CA bundle"):
        package_index.package_index_set(owner=workspace, ca_bundle=text)


def test_a_private_key_is_refused(workspace):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ValidationError, match="private key"):
        package_index.package_index_set(owner=workspace, ca_bundle=make_ca_pem() + pem)


def test_the_bundle_is_encrypted_at_rest_kept_replaced_and_cleared(workspace, target):
    pem = plant(make_ca_pem())
    package_index.package_index_set(
        owner=workspace, index_url="https://pypi.example.com/simple", ca_bundle=pem
    )
    stored = Workspace.objects.values_list("package_index", flat=True).get(pk=workspace.pk)
    body = pem.splitlines()[1]
    assert body not in str(stored) and "BEGIN CERTIFICATE" not in str(stored)
    assert package_index.has_ca_bundle(workspace)
    assert package_index.for_target(target).ca_bundle.strip() == pem.strip()

    # Saving the URLs again without a bundle keeps it; clear removes it.
    package_index.package_index_set(owner=workspace, index_url="https://other.example.com/simple")
    assert package_index.for_target(target).ca_bundle.strip() == pem.strip()
    assert rotate_secret_keys() >= 1
    assert package_index.for_target(target).ca_bundle.strip() == pem.strip()
    package_index.package_index_set(
        owner=workspace, index_url="https://other.example.com/simple", clear_ca=True
    )
    assert not package_index.has_ca_bundle(workspace)
    assert package_index.for_target(ComputeTarget.objects.get(pk=target.pk)).ca_bundle == ""


def test_a_target_overrides_the_workspace_field_by_field(workspace, target):
    package_index.package_index_set(
        owner=workspace,
        index_url="https://ws.example.com/simple",
        extra_index_urls=["https://extra.example.com/simple"],
    )
    package_index.package_index_set(owner=target, index_url="https://user:pw@target.example.com:8443/simple")
    target = ComputeTarget.objects.get(pk=target.pk)
    index = package_index.for_target(target)
    assert index.index_url == "https://user:pw@target.example.com:8443/simple"
    assert index.extra_index_urls == ("https://extra.example.com/simple",)
    settings = _build_settings(target)
    assert settings["build_env"]["PIP_INDEX_URL"] == index.index_url
    assert settings["build_env"]["PIP_EXTRA_INDEX_URL"] == "https://extra.example.com/simple"
    # The note names hosts only: a password in the URL is never logged.
    note = settings["build_env"]["PORTAL_INDEX_NOTE"]
    assert "target.example.com:8443" in note and "pw" not in note and "CA" not in note


def test_no_settings_give_no_build_variables(target):
    assert _build_settings(target) == {"build_env": {}, "ca_bundle": ""}


def test_the_image_build_context_carries_the_settings_for_the_pip_step():
    pem = make_ca_pem()
    index = package_index.PackageIndex(
        index_url="https://pypi.example.com/simple?x=1&y='2'", extra_index_urls=(), ca_bundle=pem
    )
    with tarfile.open(fileobj=build_context("python:3.12", "six\n", index)) as tar:
        files = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    assert files["portal-build/ca.pem"] == pem
    assert files["portal-build/requirements.txt"] == "six\n"
    assert (
        "export PIP_INDEX_URL='https://pypi.example.com/simple?x=1&y='\"'\"'2'\"'\"''"
        in files["portal-build/build.env"]
    )
    dockerfile = files["Dockerfile"]
    assert "PIP_CERT=/opt/portal-build/ca.pem" in dockerfile
    # The settings live in the pip step only: no ENV or ARG carries them into the image.
    assert "ENV PIP" not in dockerfile and "ARG" not in dockerfile
    assert "pypi.example.com" not in dockerfile
    assert "rm -rf /opt/portal-build" in dockerfile


def test_without_settings_the_context_has_no_bundle():
    with tarfile.open(fileobj=build_context("python:3.12", "six\n", package_index.PackageIndex())) as tar:
        names = tar.getnames()
    assert "portal-build/ca.pem" not in names
