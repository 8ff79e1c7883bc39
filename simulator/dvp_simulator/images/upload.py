"""The upload endpoint, served by the API server itself on two paths per waiting image:

* `status.imageUploadURLs.external`  = `https://<server>/upload/<token>`
* `status.imageUploadURLs.inCluster` = `https://<server>/in-cluster/<token>/upload`

On the platform these are two routes (an ingress and the uploader's service, `http://<svc-ip>/upload`) to the
same uploader; here both reach this handler. No bearer token is needed — as on the platform, the random token in
the URL is the credential. PUT (or POST) streams the body into DVCR (`curl -T file URL`, chunked or not); GET
answers 200 while the image waits for its upload (the platform's readiness probe does the same).
"""

from __future__ import annotations

from aiohttp import web

from .jobs import WAITING, Importer

EXTERNAL_PREFIX = "/upload/"
IN_CLUSTER_PREFIX = "/in-cluster/"


def upload_urls(address: str, token: str) -> dict[str, str]:
    return {"external": f"https://{address}{EXTERNAL_PREFIX}{token}", "inCluster": f"https://{address}{IN_CLUSTER_PREFIX}{token}/upload"}


def token_of(url: str | None) -> str:
    """The token in an external upload URL ("" when there is none)."""
    _, found, token = (url or "").partition(EXTERNAL_PREFIX)
    return token if found else ""


def _token(path: str) -> str | None:
    if path.startswith(EXTERNAL_PREFIX):
        token = path[len(EXTERNAL_PREFIX) :]
    elif path.startswith(IN_CLUSTER_PREFIX) and path.endswith("/upload"):
        token = path[len(IN_CLUSTER_PREFIX) : -len("/upload")]
    else:
        return None
    return token if token and "/" not in token else None


def handler(importer: Importer):
    async def handle(request: web.Request) -> web.StreamResponse:
        token = _token(request.path)
        job = importer.uploads.get(token) if token else None
        if request.method in ("GET", "HEAD"):
            waiting = job is not None and job.state == WAITING
            return web.Response(status=200 if waiting else 404, text="waiting for the upload\n" if waiting else "not found\n")
        if request.method not in ("PUT", "POST"):
            return web.Response(status=405, text="use PUT (curl -T FILE URL)\n", headers={"Allow": "GET, HEAD, PUT, POST"})
        code, message = await importer.receive_upload(token or "", request)
        return web.Response(status=code, text=message + "\n")

    return handle


def register(server, importer: Importer) -> None:
    """Serve both upload paths on the API server, outside its bearer-token authentication."""
    handle = handler(importer)
    server.public_handlers[EXTERNAL_PREFIX] = handle
    server.public_handlers[IN_CLUSTER_PREFIX] = handle
