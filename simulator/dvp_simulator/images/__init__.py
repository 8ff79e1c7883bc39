"""Images: how a ClusterVirtualImage's data gets into DVCR.

* `datasource` — is the source ready, and what exactly is it (URL, pull secret, DVCR location of a copy)?
* `jobs` — one import per image in flight: the HTTP download, the registry pull, the ObjectRef copy, or the
  upload session; progress and speed for the controller.
* `http_source`, `registry_source`, `upload` — the sources; `upload` is also the HTTP endpoint users PUT to.
* `pipeline` — raw bytes → checksums, gz/xz decompression, decompression-bomb guard, sparse disk file.
* `imageinfo` — format and virtual size (qemu-img, file), and what counts as "not a disk image".
* `dvcr` — where images live in the state dir; `units` — how sizes, speeds and progress are printed.
* `admission` — the ClusterVirtualImage webhook.
The controller that drives all this is `controllers/cvi.py`.
"""
