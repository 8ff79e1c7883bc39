"""The floor of the API section's GET figure: aiohttp over the simulator's TLS answering with recorded bytes, nothing else.

The 50-client GET p99 of the API section is set by the server's throughput (closed-loop clients: latency ≈ concurrency /
throughput), and most of a GET's CPU is not the simulator's own: TLS in asyncio's pure-Python SSL protocol, aiohttp's
HTTP parsing and response writing, the event loop. This server is that part alone, so that the bench can measure, in the
same run and with the same client, how far the simulator's figure is from what the stack under it gives on this machine.

It is aiohttp's low-level server (no router, middleware or signals) in a process of its own, with the same Python, the
same TLS context as `dvp-sim serve` builds (the simulator's own certificate and key) and a bearer-token check; it answers
every request with the status, headers and body of one response the simulator gave. Started by `Floor.start`, which reads
the line "floor ready: https://127.0.0.1:<port>" it prints.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os
import signal
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

READY = "floor ready: "


@dataclass
class Floor:
    """A floor server's process and address (a context manager: stopped on exit)."""

    process: subprocess.Popen
    server: str

    @classmethod
    def start(cls, state_dir: Path, token: str, status: int, headers: dict[str, str], body: bytes, work: Path) -> Floor:
        """Serve `body` with `status` and `headers` over the TLS of the simulator whose state directory is `state_dir`."""
        _write_private(work / "floor-answer.json", json.dumps({"status": status, "headers": headers}).encode())
        (work / "floor-body").write_bytes(body)
        _write_private(work / "floor-token", token.encode())  # a credential: the owner's alone from its creation on
        argv = [sys.executable, str(Path(__file__).resolve()), "--pki", str(state_dir / "pki"), "--work", str(work)]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith(READY):
            process.kill()
            raise RuntimeError(f"the floor server did not start: {line!r}")
        return cls(process, line[len(READY) :].strip())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Floor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


async def serve(pki: Path, work: Path) -> None:
    from aiohttp import web

    answer = json.loads((work / "floor-answer.json").read_text())
    body = (work / "floor-body").read_bytes()
    expected = f"Bearer {(work / 'floor-token').read_text().strip()}"
    # Content-Length and the like are aiohttp's to write, as they are for the simulator's responses.
    headers = {k: v for k, v in answer["headers"].items() if k.lower() not in ("content-length", "date", "server", "connection", "keep-alive")}
    content_type = headers.pop("Content-Type", None) or "application/json"

    async def handle(request: web.BaseRequest) -> web.Response:
        if not hmac.compare_digest(request.headers.get("Authorization", ""), expected):
            return web.Response(status=401, text="Unauthorized")
        return web.Response(body=body, status=answer["status"], headers=headers, content_type=content_type.split(";")[0])

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # as cli.serve_forever builds the simulator's
    tls.load_cert_chain(pki / "server.crt", pki / "server.key")
    runner = web.ServerRunner(web.Server(handle, access_log=None), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = runner.addresses[0][1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"{READY}https://127.0.0.1:{port}", flush=True)
    await stop.wait()
    await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pki", type=Path, required=True, help="the simulator's pki directory (server.crt, server.key)")
    parser.add_argument("--work", type=Path, required=True, help="the directory Floor.start wrote the answer and token to")
    args = parser.parse_args()
    asyncio.run(serve(args.pki, args.work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
