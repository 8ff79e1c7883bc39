"""Image sources for the import tests, all on 127.0.0.1: disk images made with qemu-img, a threaded file server
(HTTP or HTTPS, optionally slow), and Debian's docker-registry with TLS and htpasswd auth, fed by skopeo from
OCI layouts built here."""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import io
import json
import lzma
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
import time
import urllib.request
import warnings
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from dvp_simulator.certs import ensure_pki

MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tls_material(folder: Path) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1 (the simulator's own generator, in a folder of ours)."""
    return ensure_pki(folder)


def ca_bundle(pki: dict[str, Path]) -> str:
    return base64.b64encode(pki["ca.crt"].read_bytes()).decode()


def qemu_image(path: Path, fmt: str, size: int, data: bytes = b"") -> Path:
    """An image of `fmt` with a virtual size of `size` bytes whose first bytes are `data` (the rest is zeros)."""
    raw = path.with_name(path.name + ".source")
    with open(raw, "wb") as out:
        out.write(data)
        out.truncate(size)
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", fmt, str(raw), str(path)], check=True)
    raw.unlink()
    return path


def iso_image(path: Path) -> Path:
    content = path.parent / (path.stem + "-content")
    content.mkdir()
    (content / "README.txt").write_text("an installation disc\n")
    subprocess.run(["genisoimage", "-quiet", "-V", "DISC", "-o", str(path), str(content)], check=True)
    return path


def compress(path: Path, kind: str) -> Path:
    data = path.read_bytes()
    out = path.with_name(path.name + "." + kind)
    out.write_bytes(gzip.compress(data, 6) if kind == "gz" else lzma.compress(data, preset=1))
    return out


def digest(path: Path, algorithm: str) -> str:
    return hashlib.new(algorithm, path.read_bytes()).hexdigest()


class _Handler(SimpleHTTPRequestHandler):
    bytes_per_second: float = 0.0

    def log_message(self, *args) -> None:
        pass

    def copyfile(self, source, outputfile) -> None:
        if not self.bytes_per_second:
            return super().copyfile(source, outputfile)
        while block := source.read(MiB):
            outputfile.write(block)
            time.sleep(len(block) / self.bytes_per_second)


@dataclass
class FileServer:
    """Serves a folder on 127.0.0.1 in a thread; HTTPS when given a pki, throttled when given a rate."""

    root: Path
    pki: dict[str, Path] | None = None
    bytes_per_second: float = 0.0

    def __post_init__(self) -> None:
        handler = type("Handler", (_Handler,), {"bytes_per_second": self.bytes_per_second})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(self.root)))
        self.server.daemon_threads = True
        if self.pki:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.pki["server.crt"], self.pki["server.key"])
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"{'https' if self.pki else 'http'}://127.0.0.1:{self.server.server_address[1]}/{name}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Registry:
    """docker-registry on a free loopback port with TLS and one htpasswd user."""

    def __init__(self, folder: Path, pki: dict[str, Path], user: str = "puller", password: str = "s3cret"):
        self.folder, self.pki, self.user, self.password = folder, pki, user, password
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt

            hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
        (folder / "htpasswd").write_text(f"{user}:{hashed}\n")
        config = {
            "version": 0.1,
            "log": {"level": "error"},
            "storage": {"filesystem": {"rootdirectory": str(folder / "data")}},
            "http": {"addr": self.host, "tls": {"certificate": str(pki["server.crt"]), "key": str(pki["server.key"])}},
            "auth": {"htpasswd": {"realm": "test", "path": str(folder / "htpasswd")}},
        }
        (folder / "config.yml").write_text(json.dumps(config))
        self.log = open(folder / "registry.log", "wb")  # closed in stop()
        self.process = subprocess.Popen(["docker-registry", "serve", str(folder / "config.yml")], stdout=self.log, stderr=self.log)
        self.certs = folder / "certs"
        self.certs.mkdir()
        shutil.copy(pki["ca.crt"], self.certs / "ca.crt")
        context = ssl.create_default_context(cafile=str(pki["ca.crt"]))
        for _unused in range(100):
            try:
                urllib.request.urlopen(f"https://{self.host}/v2/", context=context, timeout=1)
            except urllib.error.HTTPError:
                return  # 401: up, and asking for credentials
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"docker-registry did not start; see {folder / 'registry.log'}")

    def docker_config(self) -> str:
        auth = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return json.dumps({"auths": {self.host: {"auth": auth}}})

    def push(self, layout: Path, name: str) -> str:
        """Push an OCI layout; returns the image reference."""
        ref = f"{self.host}/{name}"
        subprocess.run(
            ["skopeo", "--insecure-policy", "copy", "--quiet", "--dest-cert-dir", str(self.certs), "--dest-creds", f"{self.user}:{self.password}"]
            + [f"oci:{layout}:latest", f"docker://{ref}"],
            check=True,
            capture_output=True,
        )
        return ref

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


def tar_entry(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def oci_layout(folder: Path, entries: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    """An OCI image layout with one gzip layer holding `entries` (as `FROM scratch` + `COPY x /disk/x` would)."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes) -> tuple[str, int]:
        name = hashlib.sha256(data).hexdigest()
        (blobs / name).write_bytes(data)
        return "sha256:" + name, len(data)

    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    layer = gzip.compress(tar_bytes.getvalue(), 1)
    layer_digest, layer_size = blob(layer)
    diff_id = "sha256:" + hashlib.sha256(tar_bytes.getvalue()).hexdigest()
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "config": {}}
    config_digest, config_size = blob(json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}],
    }
    manifest_digest, manifest_size = blob(json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ],
    }
    (folder / "index.json").write_text(json.dumps(index))
    (folder / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return folder
