"""A loopback TCP relay that adds a fixed delay to each request, as a network to AWS would."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class LatencyRelay:
    """Relays 127.0.0.1:port to ``upstream``, holding each client write for ``delay`` seconds.

    An HTTP request usually arrives in one write, so each request pays about one delay:
    roughly an in-region round trip to SQS or S3 when ``delay`` is 0.01-0.02.
    """

    def __init__(self, upstream_host: str, upstream_port: int, delay: float) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._delay = delay
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, delayed: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if delayed:
                    time.sleep(self._delay)
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
