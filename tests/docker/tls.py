"""A tcp:// engine with TLS client certificates: a TLS front for podman's socket.

podman's API service speaks plain HTTP only; this proxy terminates TLS the way
dockerd --tlsverify does (client certificate signed by the CA required) and
relays each connection to the unix socket.
"""

import contextlib
import datetime
import ipaddress
import socket
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _pem_cert(cert) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _cert(subject, key, issuer, issuer_key, *, ca=False, server=False):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki() -> dict:
    """A CA, a server certificate for 127.0.0.1, a client certificate, and a
    client certificate from another CA (which the engine must refuse)."""
    ca_key, rogue_key = _key(), _key()
    ca = _cert("portal test CA", ca_key, "portal test CA", ca_key, ca=True)
    server_key, client_key, stranger_key = _key(), _key(), _key()
    return {
        "ca": _pem_cert(ca),
        "server_cert": _pem_cert(_cert("engine", server_key, "portal test CA", ca_key, server=True)),
        "server_key": _pem_key(server_key),
        "client_cert": _pem_cert(_cert("portal", client_key, "portal test CA", ca_key)),
        "client_key": _pem_key(client_key),
        "stranger_cert": _pem_cert(_cert("stranger", stranger_key, "rogue CA", rogue_key)),
        "stranger_key": _pem_key(stranger_key),
    }


class TLSEngineProxy:
    def __init__(self, unix_socket: Path, pki: dict):
        self.unix_socket = str(unix_socket)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.load_verify_locations(cadata=pki["ca"])
        with tempfile.TemporaryDirectory() as folder:
            cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert.write_text(pki["server_cert"])
            key.write_text(pki["server_key"])
            self.context.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.refused = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn):
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            self.refused += 1
            conn.close()
            return
        engine = socket.socket(socket.AF_UNIX)
        engine.connect(self.unix_socket)

        def pump(source, sink):
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for s in (source, sink):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pump, args=(engine, tls), daemon=True).start()
        pump(tls, engine)

    def close(self):
        self.sock.close()
