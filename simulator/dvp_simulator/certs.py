"""A CA and a server certificate for 127.0.0.1/localhost, generated once into the state dir, and the token."""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def ensure_pki(state_dir: Path) -> dict[str, Path]:
    """ca.crt, server.crt, server.key and token in state_dir; created when missing, reused otherwise."""
    pki = state_dir / "pki"
    pki.mkdir(parents=True, exist_ok=True, mode=0o700)
    pki.chmod(0o700)
    paths = {name: pki / name for name in ("ca.crt", "ca.key", "server.crt", "server.key", "token")}
    if not all(p.exists() for p in paths.values()):
        _generate(paths)
    for path in paths.values():  # files an older version wrote world-readable
        path.chmod(0o600)
    return paths


def _write_private(path: Path, data: bytes) -> None:
    """Write data to a file that is owner-only from its creation on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    path.chmod(0o600)


def _generate(paths: dict[str, Path]) -> None:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dvp-sim-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = _key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.DNSName("kubernetes.default.svc"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(paths["ca.key"], _pem_key(ca_key))
    _write_private(paths["ca.crt"], ca.public_bytes(serialization.Encoding.PEM))
    _write_private(paths["server.key"], _pem_key(key))
    _write_private(paths["server.crt"], cert.public_bytes(serialization.Encoding.PEM))
    _write_private(paths["token"], (secrets.token_urlsafe(32) + "\n").encode())


def write_kubeconfig(path: Path, server: str, ca_file: Path, token: str) -> None:
    import base64

    import yaml

    ca = base64.b64encode(ca_file.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "dvp-sim", "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": "dvp-sim-admin", "user": {"token": token}}],
        "contexts": [{"name": "dvp-sim", "context": {"cluster": "dvp-sim", "user": "dvp-sim-admin", "namespace": "default"}}],
        "current-context": "dvp-sim",
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
