"""Running the command-line tools the importer relies on (qemu-img, file, skopeo)."""

from __future__ import annotations

import asyncio


async def run_tool(*argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr); the process is killed if the import is cancelled while it runs."""
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")
