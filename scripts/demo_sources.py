"""The image sources of `make demo` (scripts/demo.sh), all files on this machine: the disk images the admin guide
downloads (an Ubuntu cloud image for HTTP, a minimal one for the registry, CirrOS for the upload), and everything
Debian's docker-registry needs to serve the registry one over TLS with a password (a CA and certificate, htpasswd,
its config), the image itself as an OCI layout (`FROM scratch` + `COPY ubuntu2204.img /disk/`, as the guide's
Dockerfile builds it) and a docker config for skopeo's push and the cluster's pull secret.

    python scripts/demo_sources.py STATE_DIR

prints the facts the script needs as `name=value` lines (never the password: it is only in the 0600 files).
The processes (file server, registry) are the script's to start and stop."""

from __future__ import annotations

import base64
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import tarfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.image_sources import oci_layout, tar_entry, tls_material  # noqa: E402  (the tests' own OCI layout writer)

MiB = 1024 * 1024
# name: (file, virtual size, bytes of data) - the data is random, so it travels as it is (nothing compresses it)
DISKS = {
    "http": ("jammy-server-cloudimg-amd64.img", 2252 * MiB, 40 * MiB),
    "registry": ("ubuntu2204.img", 2252 * MiB, 12 * MiB),
    "upload": ("cirros.img", 112 * MiB, 12 * MiB),
}
REGISTRY_USER = "demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qcow2(path: Path, virtual_size: int, data_bytes: int, seed: int) -> Path:
    """A qcow2 image of `virtual_size` whose first `data_bytes` are data (a sparse raw file, converted)."""
    raw = path.with_suffix(".raw")
    with open(raw, "wb") as out:
        out.write(random.Random(seed).randbytes(data_bytes))
        out.truncate(virtual_size)
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(path)], check=True)
    raw.unlink()
    return path


def htpasswd_line(user: str, password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # bcrypt, which docker-registry's htpasswd auth requires

        return f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))}\n"


def main(state: Path) -> None:
    os.umask(0o077)  # the password files and keys are this user's alone
    www, registry = state / "www", state / "registry"
    www.mkdir(parents=True, exist_ok=True)
    registry.mkdir(parents=True, exist_ok=True)
    paths = {kind: qcow2(www / name, size, data, seed) for seed, (kind, (name, size, data)) in enumerate(DISKS.items())}
    registry_disk = paths.pop("registry")
    registry_disk = registry_disk.rename(registry / registry_disk.name)

    pki = tls_material(registry / "pki")  # a CA and a certificate for 127.0.0.1
    certs = registry / "certs"  # skopeo's --dest-cert-dir
    certs.mkdir(exist_ok=True)
    (certs / "ca.crt").write_bytes(pki["ca.crt"].read_bytes())
    password = secrets.token_urlsafe(16)
    (registry / "htpasswd").write_text(htpasswd_line(REGISTRY_USER, password))
    host = f"127.0.0.1:{free_port()}"
    config = {
        "version": 0.1,
        "log": {"level": "error"},
        "storage": {"filesystem": {"rootdirectory": str(registry / "data")}},
        "http": {"addr": host, "tls": {"certificate": str(pki["server.crt"]), "key": str(pki["server.key"])}},
        "auth": {"htpasswd": {"realm": "demo", "path": str(registry / "htpasswd")}},
    }
    (registry / "config.yml").write_text(json.dumps(config))
    auth = base64.b64encode(f"{REGISTRY_USER}:{password}".encode()).decode()
    (registry / "auth.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    layout = registry / "layout"
    if not layout.exists():
        layout.mkdir()
        oci_layout(layout, [tar_entry("disk/", kind=tarfile.DIRTYPE), tar_entry(f"disk/{registry_disk.name}", registry_disk.read_bytes())])

    print(f"www={www}")
    print(f"http_file={DISKS['http'][0]}")
    print(f"upload_file={paths['upload']}")
    print(f"registry_host={host}")
    print(f"registry_ca_bundle={base64.b64encode(pki['ca.crt'].read_bytes()).decode()}")
    for kind, (_name, size, data) in DISKS.items():
        print(f"about_{kind}=qcow2, {size // MiB} MiB virtual, {data // MiB} MiB of data")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: demo_sources.py STATE_DIR")
    main(Path(sys.argv[1]))
