#!/usr/bin/env python3
"""Slow uploads for bench/transfer.sh: opens N mTLS connections to a transfer endpoint, sends each
one's request head with a large Content-Length and then only a few body bytes per second, so the
server holds N transfers open at once. Used to measure memory per held transfer.

Prints `ready open=N failed=M` once every connection has been tried (ramp-up done), then holds
the connections until SIGTERM/SIGINT or --hold seconds, and prints a final
`done open=N answered=A closed=C failed=M` line, where `answered` counts connections the server
answered before the body was complete (an error: it should still be waiting) and `closed` those
it closed. Standard library only.
"""

import argparse
import asyncio
import signal
import ssl
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--sni", default="localhost")
    p.add_argument("--path", default="/v1/transfers")
    p.add_argument("--ca", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("-n", "--connections", type=int, default=1000)
    p.add_argument("--ramp", type=int, default=50, help="handshakes in flight during ramp-up")
    p.add_argument("--content-length", type=int, default=10 * 1024 * 1024)
    p.add_argument("--bytes-per-tick", type=int, default=4)
    p.add_argument("--tick", type=float, default=1.0, help="seconds between body writes")
    p.add_argument("--hold", type=float, default=600.0, help="give up holding after this long")
    return p.parse_args()


HEADERS = (
    "Loop-Inventory-Item: INV-NP-001\r\n"
    "Loop-Recipient: hk-biolab\r\n"
    "Loop-Purpose: research.instrument_qc\r\n"
    "Content-Type: application/octet-stream\r\n"
)


class State:
    def __init__(self):
        self.open = 0
        self.failed = 0
        self.answered = 0
        self.closed = 0
        self.first_errors = []

    def error(self, what):
        if len(self.first_errors) < 5:
            self.first_errors.append(what)


async def watch(reader, state, done):
    """Any byte from the server before the body is complete is an early answer (or a close)."""
    try:
        data = await reader.read(512)
    except (OSError, ssl.SSLError) as e:
        data = b""
        state.error(f"read: {e!r}")
    if done.is_set():
        return
    if data:
        state.answered += 1
        state.error(data.split(b"\r\n", 1)[0].decode(errors="replace"))
    else:
        state.closed += 1
    state.open -= 1
    done.set()


async def one(args, ctx, gate, state, stop, ready):
    done = asyncio.Event()
    async with gate:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    args.host, args.port, ssl=ctx, server_hostname=args.sni
                ),
                timeout=30,
            )
            head = (
                f"POST {args.path} HTTP/1.1\r\nHost: {args.sni}:{args.port}\r\n{HEADERS}"
                f"Content-Length: {args.content_length}\r\n\r\n"
            )
            writer.write(head.encode())
            await writer.drain()
        except (OSError, ssl.SSLError, asyncio.TimeoutError) as e:
            state.failed += 1
            state.error(f"connect: {e!r}")
            ready()
            return
    state.open += 1
    ready()
    watcher = asyncio.ensure_future(watch(reader, state, done))
    sent = 0
    chunk = b"x" * args.bytes_per_tick
    try:
        while not stop.is_set() and not done.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=args.tick)
                break
            except asyncio.TimeoutError:
                pass
            if sent + len(chunk) >= args.content_length:
                break  # never complete the body
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
    except (OSError, ssl.SSLError):
        pass
    done.set()
    watcher.cancel()
    writer.transport.abort()


async def main():
    args = parse_args()
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(["http/1.1"])
    state = State()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tried = 0

    def ready():
        nonlocal tried
        tried += 1
        if tried == args.connections:
            print(f"ready open={state.open} failed={state.failed}", flush=True)

    gate = asyncio.Semaphore(args.ramp)
    tasks = [
        asyncio.ensure_future(one(args, ctx, gate, state, stop, ready))
        for _ in range(args.connections)
    ]
    try:
        await asyncio.wait_for(stop.wait(), timeout=args.hold)
    except asyncio.TimeoutError:
        stop.set()
    # Count what the server did while we held, then drop every connection.
    print(
        f"done open={state.open} answered={state.answered} closed={state.closed} "
        f"failed={state.failed}",
        flush=True,
    )
    for e in state.first_errors:
        print(f"  e.g. {e}", file=sys.stderr, flush=True)
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
