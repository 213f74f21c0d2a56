"""Opens N keep-alive connections to 127.0.0.1:PORT, makes one GET on each,
and holds them all open, idle, until SIGTERM or --max-seconds.

Writes {"held": k, "failed": f, "seconds": s} to --status once every
connection has had its answer (or failed), so the benchmark can read the
gateway's RSS with N idle connections open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import time
from pathlib import Path

OPENING_AT_ONCE = 100
STEP_TIMEOUT = 10.0


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def _open_one(port: int, path: str, gate: asyncio.Semaphore, held: list, failed: list):
    async with gate:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), STEP_TIMEOUT)
        except (OSError, asyncio.TimeoutError):
            failed.append(1)
            return
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            await writer.drain()
            status = await asyncio.wait_for(_read_response(reader), STEP_TIMEOUT)
        except (OSError, ValueError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):
            status = 0
        if status == 200:
            held.append((reader, writer))
        else:
            failed.append(1)
            writer.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--status", type=Path, required=True)
    ap.add_argument("--max-seconds", type=float, default=120)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    started = time.monotonic()
    held: list = []
    failed: list = []
    gate = asyncio.Semaphore(OPENING_AT_ONCE)
    await asyncio.gather(*(_open_one(args.port, args.path, gate, held, failed)
                           for _ in range(args.n)))
    partial = args.status.with_suffix(".partial")
    partial.write_text(json.dumps({
        "held": len(held), "failed": len(failed), "seconds": time.monotonic() - started}))
    partial.rename(args.status)
    try:
        await asyncio.wait_for(stop.wait(), args.max_seconds)
    except asyncio.TimeoutError:
        pass
    for _, writer in held:
        writer.close()


if __name__ == "__main__":
    asyncio.run(main())
