"""ClusterVirtualImage imports against a real `dvp-sim serve`: every source type, formats, compression,
checksums, failures with their reasons, upload, spec immutability, restarts, and progress seen by `kubectl -w`.
All sources are on 127.0.0.1 (see tests/image_sources.py)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import tarfile
import time

import pytest
from kubernetes import client, config

from ..image_sources import (
    FileServer,
    MiB,
    Registry,
    ca_bundle,
    compress,
    digest,
    free_port,
    iso_image,
    oci_layout,
    qemu_image,
    tar_entry,
    tls_material,
)
from ..simulator_process import BIN, Simulator

G, V, PLURAL = "virtualization.deckhouse.io", "v1alpha2", "clustervirtualimages"
DATA = bytes(range(256)) * 384  # 96 KiB of binary data (a disk that starts with text would look like a document)


# -- fixtures ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Every file the sources serve, made once."""
    root = tmp_path_factory.mktemp("images")
    qemu_image(root / "disk.qcow2", "qcow2", 64 * MiB, DATA)
    qemu_image(root / "disk.raw", "raw", 8 * MiB, DATA)
    qemu_image(root / "disk.vmdk", "vmdk", 32 * MiB, DATA)
    qemu_image(root / "disk.vdi", "vdi", 16 * MiB, DATA)
    iso_image(root / "disc.iso")
    compress(root / "disk.qcow2", "gz")
    compress(root / "disk.raw", "xz")
    compress(root / "disk.qcow2", "xz")
    (root / "login.html").write_text("<!DOCTYPE html><html><body><form>Please log in</form></body></html>\n")
    (root / "empty.img").write_bytes(b"")
    # A qcow2 header declaring a 1 MiB disk, followed by 96 MiB of zeros: small compressed, a bomb unpacked.
    head = qemu_image(root / "bomb-head.qcow2", "qcow2", MiB).read_bytes()
    (root / "bomb.qcow2").write_bytes(head)
    with open(root / "bomb.qcow2", "ab") as out:
        out.truncate(len(head) + 96 * MiB)
    compress(root / "bomb.qcow2", "gz")
    with open(root / "big.raw", "wb") as out:  # 200 MiB, sparse
        out.truncate(200 * MiB)
    return root


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return tls_material(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def https(images, pki):
    server = FileServer(images, pki)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def slow(images):
    """Plain HTTP at 64 MiB/s: the 200 MiB image takes about 3 s."""
    server = FileServer(images, bytes_per_second=64 * MiB)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def registry(tmp_path_factory, pki):
    reg = Registry(tmp_path_factory.mktemp("registry"), pki)
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def simulator(tmp_path_factory):
    sim = Simulator.start(tmp_path_factory.mktemp("cvi-sim"))
    yield sim
    assert sim.stop() == 0


@pytest.fixture(scope="module")
def api_client(simulator):
    return config.new_client_from_config(config_file=str(simulator.kubeconfig))


@pytest.fixture(scope="module")
def api(api_client):
    return client.CustomObjectsApi(api_client)


# -- helpers -------------------------------------------------------------------------------------------------
def http_source(url: str, ca: str | None = None, **checksum: str) -> dict:
    http = {"url": url} | ({"caBundle": ca} if ca else {}) | ({"checksum": checksum} if checksum else {})
    return {"type": "HTTP", "http": http}


def create(api, name: str, source: dict) -> dict:
    body = {"apiVersion": f"{G}/{V}", "kind": "ClusterVirtualImage", "metadata": {"name": name}, "spec": {"dataSource": source}}
    return api.create_cluster_custom_object(G, V, PLURAL, body)


def get(api, name: str) -> dict:
    return api.get_cluster_custom_object(G, V, PLURAL, name)


def condition(obj: dict, type_: str) -> dict:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def wait_for(api, name: str, test, timeout: float = 30) -> dict:
    end = time.time() + timeout
    while True:
        obj = get(api, name)
        if test(obj):
            return obj
        if time.time() > end:
            raise AssertionError(f"{name} did not get there in {timeout}s: {json.dumps(obj.get('status'), indent=1)}")
        time.sleep(0.1)


def wait_gone(api, name: str, timeout: float = 10) -> None:
    end = time.time() + timeout
    while any(o["metadata"]["name"] == name for o in api.list_cluster_custom_object(G, V, PLURAL)["items"]):
        assert time.time() < end, f"{name} is still there after {timeout}s"
        time.sleep(0.05)


def phase_in(*phases: str):
    return lambda obj: (obj.get("status") or {}).get("phase") in phases


def ready_image(api, name: str, source: dict) -> dict:
    create(api, name, source)
    obj = wait_for(api, name, phase_in("Ready", "Failed"))
    assert obj["status"]["phase"] == "Ready", obj["status"]
    return obj


def failed_because(api, name: str, *fragments: str, reason: str = "ProvisioningFailed") -> dict:
    obj = wait_for(api, name, phase_in("Failed", "Ready"))
    ready = condition(obj, "Ready")
    assert (obj["status"]["phase"], ready["status"], ready["reason"]) == ("Failed", "False", reason), ready
    for fragment in fragments:
        assert fragment in ready["message"], ready["message"]
    assert ready["observedGeneration"] == obj["metadata"]["generation"]
    return obj


def curl_upload(url: str, ca_file, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--cacert", str(ca_file), *args, url], input=stdin, capture_output=True, check=False, timeout=60)


# -- tests ---------------------------------------------------------------------------------------------------
FORMATS = {
    # name: (file, format, cdrom, unpacked bytes)
    "fmt-qcow2": ("disk.qcow2", "qcow2", False, 64 * MiB),
    "fmt-raw": ("disk.raw", "raw", False, 8 * MiB),
    "fmt-vmdk": ("disk.vmdk", "vmdk", False, 32 * MiB),
    "fmt-vdi": ("disk.vdi", "vdi", False, 16 * MiB),
    "fmt-iso": ("disc.iso", "iso", True, None),
    "fmt-qcow2-gz": ("disk.qcow2.gz", "qcow2", False, 64 * MiB),
    "fmt-raw-xz": ("disk.raw.xz", "raw", False, 8 * MiB),
}


def test_http_sources_reach_ready_with_format_size_and_cdrom(api, https, pki, images):
    for name, (file, *_unused) in FORMATS.items():
        create(api, name, http_source(https.url(file), ca_bundle(pki)))
    for name, (file, fmt, cdrom, unpacked) in FORMATS.items():
        obj = wait_for(api, name, phase_in("Ready", "Failed"))
        status = obj["status"]
        assert (status["phase"], status.get("format"), status.get("cdrom"), status["progress"]) == ("Ready", fmt, cdrom, "100%"), json.dumps(status)
        unpacked = unpacked or (images / file).stat().st_size
        assert status["size"]["unpackedBytes"] == str(unpacked)
        assert re.fullmatch(r"\d+(\.\d)?(B|Ki|Mi|Gi)", status["size"]["stored"]) and int(status["size"]["storedBytes"]) > 0
        assert status["target"]["registryURL"] == f"dvcr.d8-virtualization.svc/cvi/{name}:{obj['metadata']['uid']}"
        assert {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]} == {
            "Ready": ("True", "Ready"),
            "DatasourceReady": ("True", "DatasourceReady"),
            "InUse": ("False", "NotInUse"),
        }
        assert all(c["observedGeneration"] == 1 for c in status["conditions"]) and status["observedGeneration"] == 1
        assert "virtualization.deckhouse.io/cvi-cleanup" in obj["metadata"]["finalizers"]
    # Sizes are printed the platform's way: whole numbers bare, one decimal otherwise.
    assert get(api, "fmt-qcow2")["status"]["size"]["unpacked"] == "64Mi"


def test_checksums_of_raw_bytes_all_algorithms(api, https, pki, images):
    source = images / "disk.qcow2.xz"  # checksums are over the bytes downloaded, before decompression
    sums = {a: digest(source, a) for a in ("md5", "sha1", "sha256", "sha512")}
    from gostcrypto import gosthash

    for algorithm in ("streebog256", "streebog512"):
        sums[algorithm] = gosthash.new(algorithm, data=source.read_bytes()).hexdigest()
    create(api, "sum-good", http_source(https.url("disk.qcow2.xz"), ca_bundle(pki), **sums))
    wrong = "0" * 64
    create(api, "sum-bad", http_source(https.url("disk.qcow2.xz"), ca_bundle(pki), md5=sums["md5"], sha256=wrong))
    assert wait_for(api, "sum-good", phase_in("Ready", "Failed"))["status"]["phase"] == "Ready"
    failed_because(api, "sum-bad", "checksum mismatch", f"sha256: expected {wrong}, got {sums['sha256']}")


def test_unreachable_untrusted_and_missing_sources_fail(api, https, pki):
    closed = free_port()
    create(api, "bad-port", http_source(f"http://127.0.0.1:{closed}/disk.qcow2"))
    create(api, "bad-tls", http_source(https.url("disk.qcow2")))  # no caBundle: the test CA is not trusted
    create(api, "bad-404", http_source(https.url("nothing-here.img"), ca_bundle(pki)))
    failed_because(api, "bad-port", f"cannot connect to 127.0.0.1:{closed}")
    failed_because(api, "bad-tls", "TLS certificate", "not trusted")
    failed_because(api, "bad-404", "HTTP 404")


def test_not_an_image_and_decompression_bomb_fail(api, https, pki):
    """Random bytes are a raw disk (as on the platform); an HTML page or an empty file is not an image."""
    create(api, "bad-html", http_source(https.url("login.html"), ca_bundle(pki)))
    create(api, "bad-empty", http_source(https.url("empty.img"), ca_bundle(pki)))
    create(api, "bad-bomb", http_source(https.url("bomb.qcow2.gz"), ca_bundle(pki)))
    failed_because(api, "bad-html", "not a disk image", "HTML document")
    failed_because(api, "bad-empty", "empty (0 bytes)")
    failed_because(api, "bad-bomb", "decompression bomb", "virtual size of 1048576 bytes")


def test_container_image_with_credentials_tls_and_unsafe_layers(api, api_client, registry, pki, images, tmp_path):
    disk = (images / "disk.qcow2").read_bytes()
    good = registry.push(oci_layout(tmp_path / "good", [tar_entry("disk", kind=tarfile.DIRTYPE), tar_entry("disk/disk.qcow2", disk)]), "images/good:1")
    escape = registry.push(oci_layout(tmp_path / "escape", [tar_entry("disk/../../etc/cron.d/evil", b"* * * * * root sh\n")]), "images/escape:1")
    link = registry.push(oci_layout(tmp_path / "link", [tar_entry("disk/disk.img", kind=tarfile.SYMTYPE, link="/etc/shadow")]), "images/link:1")
    secret = {"name": "registry-creds", "namespace": "default"}

    def image(ref, **extra):
        return {"type": "ContainerImage", "containerImage": {"image": ref, "caBundle": ca_bundle(pki), "imagePullSecret": secret} | extra}

    create(api, "reg-good", image(good))
    pending = wait_for(api, "reg-good", lambda o: "conditions" in (o.get("status") or {}))
    assert pending["status"]["phase"] == "Pending"
    assert condition(pending, "DatasourceReady")["reason"] == "ContainerRegistrySecretNotFound"
    core = client.CoreV1Api(api_client)
    data = {".dockerconfigjson": base64.b64encode(registry.docker_config().encode()).decode()}
    core.create_namespaced_secret("default", {"metadata": secret, "type": "kubernetes.io/dockerconfigjson", "data": data})
    ready = wait_for(api, "reg-good", phase_in("Ready", "Failed"))["status"]
    assert (ready["phase"], ready["format"], ready["size"]["unpackedBytes"]) == ("Ready", "qcow2", str(64 * MiB)), ready

    create(api, "reg-escape", image(escape))
    create(api, "reg-link", image(link))
    create(api, "reg-no-creds", {"type": "ContainerImage", "containerImage": {"image": good, "caBundle": ca_bundle(pki)}})
    create(api, "reg-no-ca", {"type": "ContainerImage", "containerImage": {"image": good, "imagePullSecret": secret}})
    failed_because(api, "reg-escape", "unsafe layer", "disk/../../etc/cron.d/evil")
    failed_because(api, "reg-link", "unsafe layer", "symlink disk/disk.img -> /etc/shadow", "outside /disk/")
    failed_because(api, "reg-no-creds", "cannot pull", "unauthorized")
    failed_because(api, "reg-no-ca", "cannot pull", "certificate")


def test_object_ref_copies_a_ready_image_and_waits_for_others(api, https, pki):
    source = ready_image(api, "ref-source", http_source(https.url("disk.vdi"), ca_bundle(pki)))
    create(api, "copy-vdi", {"type": "ObjectRef", "objectRef": {"kind": "ClusterVirtualImage", "name": "ref-source"}})
    copy = wait_for(api, "copy-vdi", phase_in("Ready", "Failed"))["status"]
    assert (copy["phase"], copy["format"], copy["size"], copy["sourceUID"]) == ("Ready", "vdi", source["status"]["size"], source["metadata"]["uid"])

    waiting = {
        "ref-late": ({"kind": "ClusterVirtualImage", "name": "late-source"}, "ClusterImageNotReady"),
        "ref-vi": ({"kind": "VirtualImage", "name": "nope", "namespace": "default"}, "ImageNotReady"),
        "ref-vd": ({"kind": "VirtualDisk", "name": "nope", "namespace": "default"}, "VirtualDiskNotReady"),
        "ref-snap": ({"kind": "VirtualDiskSnapshot", "name": "nope", "namespace": "default"}, "VirtualDiskSnapshotNotReady"),
    }
    for name, (ref, _unused) in waiting.items():
        create(api, name, {"type": "ObjectRef", "objectRef": ref})
    for name, (_unused, reason) in waiting.items():
        obj = wait_for(api, name, lambda o: "conditions" in (o.get("status") or {}))
        datasource = condition(obj, "DatasourceReady")
        assert (obj["status"]["phase"], datasource["status"], datasource["reason"]) == ("Pending", "False", reason), obj["status"]
        assert obj["status"].get("progress", "") == ""
    # The image it waits for appears and becomes Ready: the copy follows by itself.
    create(api, "late-source", http_source(https.url("disk.raw"), ca_bundle(pki)))
    assert wait_for(api, "ref-late", phase_in("Ready", "Failed"))["status"]["format"] == "raw"


def test_upload_put_chunked_checksum_and_urls(api, simulator, images):
    create(api, "up-iso", {"type": "Upload"})
    create(api, "up-chunked", {"type": "Upload"})
    create(api, "up-bad-sum", {"type": "Upload", "upload": {"checksum": {"sha256": "1" * 64}}})
    waiting = wait_for(api, "up-iso", phase_in("WaitForUserUpload"))
    urls = waiting["status"]["imageUploadURLs"]
    port = simulator.server.rsplit(":", 1)[1]
    assert re.fullmatch(rf"https://127\.0\.0\.1:{port}/upload/[\w-]{{20,}}", urls["external"]), urls
    assert urls["inCluster"].startswith(f"https://127.0.0.1:{port}/in-cluster/") and urls["inCluster"].endswith("/upload")
    assert waiting["status"]["progress"] == "0%" and condition(waiting, "Ready")["reason"] == "WaitForUserUpload"
    assert curl_upload(urls["external"], simulator.ca_file, "-o", "/dev/null", "-w", "%{http_code}").stdout == b"200"  # the readiness probe

    done = curl_upload(urls["external"], simulator.ca_file, "-T", str(images / "disc.iso"))  # no bearer token needed
    assert done.returncode == 0 and b"upload complete" in done.stdout, done
    iso = wait_for(api, "up-iso", phase_in("Ready"))["status"]
    assert (iso["format"], iso["cdrom"], iso["progress"]) == ("iso", True, "100%") and "imageUploadURLs" not in iso
    assert curl_upload(urls["external"], simulator.ca_file, "-T", str(images / "disc.iso"), "-o", "/dev/null", "-w", "%{http_code}").stdout == b"404"

    # Chunked transfer (size unknown), to the in-cluster URL, of an xz-compressed qcow2.
    url = wait_for(api, "up-chunked", phase_in("WaitForUserUpload"))["status"]["imageUploadURLs"]["inCluster"]
    chunked = curl_upload(url, simulator.ca_file, "-T", "-", "-H", "Transfer-Encoding: chunked", stdin=(images / "disk.qcow2.xz").read_bytes())
    assert chunked.returncode == 0 and b"upload complete" in chunked.stdout, chunked
    status = wait_for(api, "up-chunked", phase_in("Ready"))["status"]
    assert (status["format"], status["size"]["unpackedBytes"]) == ("qcow2", str(64 * MiB))

    url = wait_for(api, "up-bad-sum", phase_in("WaitForUserUpload"))["status"]["imageUploadURLs"]["external"]
    refused = curl_upload(url, simulator.ca_file, "-T", str(images / "disk.raw"), "-w", "%{http_code}")
    assert refused.stdout.endswith(b"400") and b"checksum mismatch" in refused.stdout, refused
    obj = failed_because(api, "up-bad-sum", "checksum mismatch", reason="ProvisioningFailedTerminally")
    assert "imageUploadURLs" not in obj["status"]


def test_spec_is_immutable_once_ready_and_names_have_no_dots(simulator, api, https, pki):
    ready_image(api, "frozen", http_source(https.url("disk.raw"), ca_bundle(pki)))
    out = simulator.kubectl("patch", "cvi", "frozen", "--type=merge", "-p", '{"spec":{"dataSource":{"http":{"url":"https://x.invalid/y"}}}}', check=False)
    assert out.returncode != 0 and "The request is invalid" in out.stderr and "is Ready: its spec can no longer be changed" in out.stderr, out.stderr
    obj = get(api, "frozen")
    assert obj["metadata"]["generation"] == 1 and obj["spec"]["dataSource"]["http"]["url"].endswith("/disk.raw")
    simulator.kubectl("label", "cvi", "frozen", "team=images")  # metadata stays editable
    dotted = simulator.kubectl("create", "-f", "-", input=json.dumps(_cvi_manifest("ubuntu.22.04")), check=False)
    assert dotted.returncode != 0 and "Forbidden" in dotted.stderr and "must not contain '.'" in dotted.stderr


def _cvi_manifest(name: str) -> dict:
    return {"apiVersion": f"{G}/{V}", "kind": "ClusterVirtualImage", "metadata": {"name": name}, "spec": {"dataSource": {"type": "Upload"}}}


def test_spec_change_before_ready_restarts_the_import(api, slow, https, pki):
    create(api, "restart-slow", http_source(slow.url("big.raw")))
    wait_for(api, "restart-slow", lambda o: o.get("status", {}).get("phase") == "Provisioning")
    api.patch_cluster_custom_object(G, V, PLURAL, "restart-slow", {"spec": {"dataSource": http_source(https.url("disk.vdi"), ca_bundle(pki))}})
    obj = wait_for(api, "restart-slow", phase_in("Ready", "Failed"))
    assert (obj["status"]["phase"], obj["status"]["format"], obj["metadata"]["generation"], obj["status"]["observedGeneration"]) == ("Ready", "vdi", 2, 2)

    create(api, "restart-failed", http_source(https.url("missing.img"), ca_bundle(pki)))
    failed_because(api, "restart-failed", "HTTP 404")
    api.patch_cluster_custom_object(G, V, PLURAL, "restart-failed", {"spec": {"dataSource": {"http": {"url": https.url("disk.qcow2")}}}})
    obj = wait_for(api, "restart-failed", lambda o: o["status"].get("observedGeneration") == 2 and o["status"]["phase"] in ("Ready", "Failed"))
    assert (obj["status"]["phase"], obj["status"]["format"]) == ("Ready", "qcow2"), obj["status"]


def test_delete_removes_the_image_and_its_dvcr_data(api, simulator, https, pki):
    obj = ready_image(api, "doomed", http_source(https.url("disk.vmdk"), ca_bundle(pki)))
    folder = simulator.state_dir / "dvcr" / "cvi" / "doomed" / obj["metadata"]["uid"]
    assert (folder / "disk.img").is_file()
    api.delete_cluster_custom_object(G, V, PLURAL, "doomed")
    wait_gone(api, "doomed")
    assert not folder.exists()


def test_kubectl_watch_shows_phase_and_progress_moving(simulator, api, slow):
    create(api, "big", http_source(slow.url("big.raw")))
    watch = subprocess.Popen(
        [str(BIN / "kubectl"), "--kubeconfig", str(simulator.kubeconfig), "get", "cvi", "big", "-w", "--request-timeout=60s"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        obj = wait_for(api, "big", phase_in("Ready", "Failed"), timeout=60)
        assert obj["status"]["phase"] == "Ready" and obj["status"]["size"]["unpacked"] == "200Mi"
        time.sleep(0.5)
    finally:
        watch.terminate()
    lines = [line.split() for line in watch.communicate(timeout=10)[0].splitlines() if line.startswith("big ")]
    progress = [float(cols[-2].rstrip("%")) for cols in lines if "Provisioning" in cols and cols[-2].endswith("%")]
    assert len(set(progress)) >= 3, lines  # it moved while provisioning
    assert progress == sorted(progress) and max(progress) <= 99.9, progress
    assert lines[-1][1:4] == ["Ready", "false", "100%"], lines


def test_state_survives_a_restart(tmp_path, https, pki, images):
    sim = Simulator.start(tmp_path)
    try:
        api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(sim.kubeconfig)))
        create(api, "kept", http_source(https.url("disk.qcow2.gz"), ca_bundle(pki)))
        create(api, "upload-later", {"type": "Upload"})
        before = wait_for(api, "kept", phase_in("Ready"))
        old_url = wait_for(api, "upload-later", phase_in("WaitForUserUpload"))["status"]["imageUploadURLs"]["external"]
    finally:
        assert sim.stop() == 0
    sim = Simulator.start(tmp_path)
    try:
        api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(sim.kubeconfig)))
        time.sleep(0.5)
        after = get(api, "kept")
        assert after["status"] == before["status"] and after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        # The upload URL keeps its token and follows the server to its new port.
        status = wait_for(api, "upload-later", lambda o: o["status"].get("imageUploadURLs", {}).get("external", "").startswith(sim.server))["status"]
        assert status["imageUploadURLs"]["external"].rsplit("/", 1)[1] == old_url.rsplit("/", 1)[1]
        assert curl_upload(status["imageUploadURLs"]["external"], sim.ca_file, "-T", str(images / "disk.vmdk")).returncode == 0
        assert wait_for(api, "upload-later", phase_in("Ready"))["status"]["format"] == "vmdk"
    finally:
        assert sim.stop() == 0


def test_upload_timeout_and_image_lost_on_the_simulated_clock(tmp_path, https, pki):
    """At 600x, the 10-minute upload wait is 1 s and the 5-minute DVCR check 0.5 s."""
    sim = Simulator.start(tmp_path, time_scale=600)
    try:
        api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(sim.kubeconfig)))
        create(api, "never-uploaded", {"type": "Upload"})
        create(api, "to-lose", http_source(https.url("disk.raw"), ca_bundle(pki)))
        wait_for(api, "never-uploaded", phase_in("WaitForUserUpload"))
        obj = failed_because(api, "never-uploaded", "within 10 minutes", reason="WaitForUserUploadTimeout")
        assert "imageUploadURLs" not in obj["status"]

        uid = wait_for(api, "to-lose", phase_in("Ready"))["metadata"]["uid"]
        folder = sim.state_dir / "dvcr" / "cvi" / "to-lose" / uid
        folder.rename(folder.with_name("away"))
        lost = wait_for(api, "to-lose", phase_in("ImageLost"), timeout=10)
        assert condition(lost, "Ready")["reason"] == "ImageLost"
        folder.with_name("away").rename(folder)
        assert condition(wait_for(api, "to-lose", phase_in("Ready"), timeout=10), "Ready")["status"] == "True"
        core = client.CoreV1Api(config.new_client_from_config(config_file=str(sim.kubeconfig)))
        events = core.list_event_for_all_namespaces(field_selector="involvedObject.name=to-lose").items
        recovered = [e for e in events if e.reason == "ImageLostRecovered"]
        assert len(recovered) == 1 and recovered[0].type == "Normal" and recovered[0].involved_object.kind == "ClusterVirtualImage", events
        assert "back in DVCR" in recovered[0].message, recovered[0].message
    finally:
        assert sim.stop() == 0
