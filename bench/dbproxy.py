"""A TCP proxy that makes a database slow, then unreachable, then reachable again: the fault mode
of bench/load.py.

Every chunk the client sends reaches the server `delay` seconds late (so every round trip, a
query or a step of the connection handshake, takes that much longer; the answers come back at
once). `outage(after, seconds)` then, `after` seconds from the call, stops listening (new
connections are refused by the kernel) and cuts every open connection, and `seconds` later
listens on the same port again (still with the delay). The proxy runs its own asyncio loop in a
thread, on 127.0.0.1 only.

Standalone, for a manual look: python bench/dbproxy.py --upstream 127.0.0.1:5432 --after 10 --outage 10
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
CHUNK = 65536


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int, delay: float = 0.040) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay = delay
        self.port = 0
        self.connections = 0  # accepted while listening
        self.cut = 0  # open connections cut by the outage
        self.refused_at: float | None = None  # time.monotonic() of the outage's start and end
        self.recovered_at: float | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._outages: list[concurrent.futures.Future[None]] = []

    def start(self) -> int:
        """Listen on a port the kernel picks; the port."""
        self._thread.start()
        self._run(self._listen())
        return self.port

    def outage(self, after: float, seconds: float) -> concurrent.futures.Future[None]:
        """From `after` seconds on, refuse connections for `seconds`; returns at once."""
        outage = asyncio.run_coroutine_threadsafe(self._outage(after, seconds), self._loop)
        self._outages.append(outage)
        return outage

    def close(self) -> None:
        for outage in self._outages:
            outage.cancel()
        if self._thread.is_alive():
            self._run(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._loop.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _refuse(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self.cut += len(self._links) // 2
        for writer in list(self._links):
            writer.transport.abort()

    async def _shutdown(self) -> None:
        await self._refuse()
        # The cut links end on their own (cancelling them trips a bug of Python 3.11's streams).
        deadline = time.monotonic() + 2
        while self._links and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def _outage(self, after: float, seconds: float) -> None:
        await asyncio.sleep(after)
        self.refused_at = time.monotonic()
        await self._refuse()
        await asyncio.sleep(seconds)
        await self._listen()
        self.recovered_at = time.monotonic()

    async def _link(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.transport.abort()
            return
        pair = {client_writer, server_writer}
        self._links |= pair
        try:
            await asyncio.gather(
                self._pipe(client_reader, server_writer, self.delay), self._pipe(server_reader, client_writer, 0.0)
            )
        finally:
            for writer in pair:
                writer.transport.abort()
            self._links -= pair

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
        """Copy until end of stream; each chunk leaves `delay` after it came, in order, without
        holding back the chunks behind it (a latency, not a bandwidth limit)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, data = await queue.get()
                pause = due - loop.time()
                if pause > 0:
                    await asyncio.sleep(pause)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        forwarder = asyncio.create_task(forward())
        try:
            while data := await reader.read(CHUNK):
                queue.put_nowait((loop.time() + delay, data))
            queue.put_nowait((loop.time() + delay, b""))
            await forwarder
        except (ConnectionError, OSError):
            pass  # one side went away (or the outage cut it): the link ends
        finally:
            forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await forwarder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", default="127.0.0.1:5432", help="host:port of the database")
    parser.add_argument("--delay-ms", type=float, default=40)
    parser.add_argument("--after", type=float, default=10, help="seconds before the outage")
    parser.add_argument("--outage", type=float, default=10, help="seconds of refused connections")
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    proxy = FaultProxy(host, int(port), args.delay_ms / 1000)
    print(f"127.0.0.1:{proxy.start()} -> {args.upstream}, +{args.delay_ms:g} ms a round trip", flush=True)
    try:
        proxy.outage(args.after, args.outage).result()
        print(f"refused connections for {args.outage:g} s, listening again; Ctrl-C ends", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.close()


if __name__ == "__main__":
    main()
