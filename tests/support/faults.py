"""A loopback HTTP proxy in front of moto that fails chosen S3 and SQS requests on purpose
(whole requests, or single entries of an SQS SendMessageBatch or DeleteMessageBatch), and
counts them (SQS calls also per queue).

The worker's ``AWS_ENDPOINT_URL_S3`` points here, so retries are exercised over real HTTP.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


@dataclass
class Fault:
    """Answer ``status`` (with error ``code``) to matching requests: let the first ``after``
    through, then fail the next ``times``."""

    status: int
    code: str
    times: int = 1_000_000
    after: int = 0


@dataclass
class SqsFault:
    """A fault for SQS calls (JSON protocol) of ``action`` naming a queue containing ``queue``."""

    action: str
    queue: str
    fault: Fault


@dataclass
class EntryFault:
    """Refuse single entries of ``action`` calls (SendMessageBatch unless told) on queues whose
    URL contains ``queue``,
    as SQS does through no fault of the sender (``InternalError``): let the first ``after``
    entries through, then refuse the next ``times``; the rest of each call goes through."""

    queue: str
    after: int = 0
    times: int = 1_000_000
    action: str = "SendMessageBatch"


@dataclass
class ShareFault:
    """Fail a ``share`` (0-1) of requests at random, as AWS's own hiccups do: S3 requests
    (``service="s3"``) answer one of ``s3_answers``, SQS calls (``"sqs"``) of any action
    ``InternalError`` 500. ``injected`` counts the answers given, ``drawn`` the requests seen."""

    service: str
    share: float
    seed: int = 0
    injected: int = 0
    drawn: int = 0  # requests it was asked about

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def draw(self) -> Fault | None:
        self.drawn += 1
        if self._rng.random() >= self.share:
            return None
        self.injected += 1
        if self.service == "sqs":
            return Fault(500, "InternalError")
        # What S3 answers when it sheds load: botocore and the task retry both.
        return Fault(503, self._rng.choice(("SlowDown", "ServiceUnavailable")))


class _QuietServer(ThreadingHTTPServer):
    """A client that hung up (a timed-out or abandoned request) is no error of the proxy's.

    ``socketserver`` prints such errors to ``sys.stderr`` from the handler thread, which
    lands in whatever a test happens to be capturing at that moment (a command's output).
    """

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exception(), ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def _queue_name(body: bytes) -> str:
    """The queue an SQS call (JSON protocol) names by its URL, or "" if none."""
    try:
        request = json.loads(body)
    except ValueError:
        return ""
    url = request.get("QueueUrl") if isinstance(request, dict) else None
    return str(url).rsplit("/", 1)[-1] if url else ""


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self._upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self._faults: dict[tuple[str, str], Fault] = {}
        self._sqs_faults: list[SqsFault] = []
        self._entry_faults: list[EntryFault] = []
        self._delays: dict[tuple[str, str], tuple[float, int, bool]] = {}
        # (SQS action, queue name) -> seconds its answers are held, decided as they come back.
        self._held_answers: dict[tuple[str, str], float] = {}
        self._shares: list[ShareFault] = []
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str]] = Counter()
        # (SQS action, queue name) -> calls.
        self.sqs_calls: Counter[tuple[str, str]] = Counter()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def fail(self, method: str, path: str, fault: Fault) -> None:
        """Make ``method`` requests on ``/bucket/key`` (decoded) answer with ``fault``."""
        with self._lock:
            self._faults[(method, path)] = fault

    def fail_sqs(self, action: str, queue: str, fault: Fault) -> SqsFault:
        """Make SQS ``action`` calls on queues whose URL contains ``queue`` answer ``fault``."""
        entry = SqsFault(action, queue, fault)
        with self._lock:
            self._sqs_faults.append(entry)
        return entry

    def fail_share(self, service: str, share: float, *, seed: int = 0) -> ShareFault:
        """Fail ``share`` of all ``service`` ("s3" or "sqs") requests at random (``ShareFault``)."""
        if service not in {"s3", "sqs"}:
            raise ValueError(f"unknown service {service!r}")
        entry = ShareFault(service, share, seed)
        with self._lock:
            self._shares.append(entry)
        return entry

    def clear_share(self, entry: ShareFault) -> None:
        with self._lock:
            self._shares.remove(entry)

    def clear_sqs(self, entry: SqsFault) -> None:
        with self._lock:
            self._sqs_faults.remove(entry)

    def refuse_entries(
        self,
        queue: str,
        *,
        after: int = 0,
        times: int = 1_000_000,
        action: str = "SendMessageBatch",
    ) -> EntryFault:
        """Make SQS refuse single ``action`` entries on ``queue`` (see ``EntryFault``)."""
        entry = EntryFault(queue, after, times, action)
        with self._lock:
            self._entry_faults.append(entry)
        return entry

    def clear_entries(self, entry: EntryFault) -> None:
        with self._lock:
            self._entry_faults.remove(entry)

    def _take_entry_faults(self, target: str, body: bytes) -> tuple[bytes, list[dict[str, object]]]:
        """The request body with the entries to refuse taken out, and SQS's answer for them."""
        action = target.removeprefix("AmazonSQS.")
        if action not in {"SendMessageBatch", "DeleteMessageBatch"}:
            return body, []
        request = json.loads(body)
        kept: list[dict[str, object]] = []
        refused: list[dict[str, object]] = []
        with self._lock:
            url = str(request.get("QueueUrl"))
            faults = [f for f in self._entry_faults if f.action == action and f.queue in url]
            if not faults:
                return body, []
            fault = faults[-1]
            for entry in request.get("Entries", []):
                if fault.after > 0:
                    fault.after -= 1
                    kept.append(entry)
                elif fault.times > 0:
                    fault.times -= 1
                    refused.append(
                        {
                            "Id": entry["Id"],
                            "SenderFault": False,
                            "Code": "InternalError",
                            "Message": "injected by the test",
                        }
                    )
                else:
                    kept.append(entry)
        request["Entries"] = kept
        return json.dumps(request).encode(), refused

    def slow_down(
        self, method: str, path: str, seconds: float, times: int = 1, *, response: bool = False
    ) -> None:
        """Hold the next ``times`` matching requests for ``seconds`` before relaying them, or,
        with ``response``, hold S3's answer: the caller then acts late on what it read."""
        with self._lock:
            self._delays[(method, path)] = (seconds, times, response)

    def hold_sqs_answers(self, action: str, queue: str, seconds: float) -> None:
        """Hold for ``seconds`` SQS's answer to every ``action`` call on ``queue`` that comes
        back from now on, calls already waiting upstream (a long poll) included."""
        with self._lock:
            self._held_answers[(action, queue)] = seconds

    def _answer_hold(self, target: str, body: bytes) -> float:
        with self._lock:
            key = (target.removeprefix("AmazonSQS."), _queue_name(body))
            return self._held_answers.get(key, 0.0) if target else 0.0

    def count(self, method: str, path: str) -> int:
        with self._lock:
            return self.requests[(method, path)]

    def _take_delay(self, method: str, path: str) -> tuple[float, bool]:
        with self._lock:
            seconds, times, response = self._delays.get((method, path), (0.0, 0, False))
            if times <= 0:
                return 0.0, False
            self._delays[(method, path)] = (seconds, times - 1, response)
            return seconds, response

    def _take_fault(self, method: str, path: str, target: str, body: bytes) -> Fault | None:
        with self._lock:
            self.requests[(method, path)] += 1
            if target:
                self.requests[("SQS", target.removeprefix("AmazonSQS."))] += 1
                self.sqs_calls[(target.removeprefix("AmazonSQS."), _queue_name(body))] += 1
            fault = self._faults.get((method, path))
            service = "sqs" if target else "s3"
            for share in self._shares:
                if fault is None and share.service == service:
                    fault = share.draw()
            for entry in self._sqs_faults:
                if target == f"AmazonSQS.{entry.action}" and entry.queue.encode() in body:
                    fault = entry.fault
            if fault is None:
                return None
            if fault.after > 0:
                fault.after -= 1
                return None
            if fault.times <= 0:
                return None
            fault.times -= 1
            return fault

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _relay(self) -> None:
                path = unquote(urlsplit(self.path).path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = self.headers.get("X-Amz-Target", "")
                fault = proxy._take_fault(self.command, path, target, body)
                delay, after_response = proxy._take_delay(self.command, path)
                if not after_response:
                    time.sleep(delay)
                if fault is not None:
                    self._answer_fault(fault)
                    return
                body, refused = proxy._take_entry_faults(target, body)
                if refused and not json.loads(body)["Entries"]:
                    self._answer_json({"Successful": [], "Failed": refused})
                    return
                upstream = http.client.HTTPConnection(*proxy._upstream, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    headers["Host"] = f"{proxy._upstream[0]}:{proxy._upstream[1]}"
                    if refused:
                        headers = {
                            k: v for k, v in headers.items() if k.lower() != "content-length"
                        }
                        headers["Content-Length"] = str(len(body))
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                    skipped = {"transfer-encoding", "connection"}
                    if refused and response.status == 200:
                        answer = json.loads(payload)
                        answer["Failed"] = [*answer.get("Failed", []), *refused]
                        payload = json.dumps(answer).encode()
                        skipped.add("content-length")
                    if after_response:
                        time.sleep(delay)
                    time.sleep(proxy._answer_hold(target, body))
                    self.send_response(response.status, response.reason)
                    for name, value in response.getheaders():
                        if name.lower() not in skipped:
                            self.send_header(name, value)
                    if self.command == "HEAD":
                        self.end_headers()
                    else:
                        if "content-length" in skipped or not response.getheader("Content-Length"):
                            self.send_header("Content-Length", str(len(payload)))
                        self.end_headers()
                        self.wfile.write(payload)
                finally:
                    upstream.close()

            def _answer_json(self, answer: dict[str, object]) -> None:
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _answer_fault(self, fault: Fault) -> None:
                if self.headers.get("X-Amz-Target"):
                    content_type = "application/x-amz-json-1.0"
                    body = json.dumps(
                        {"__type": fault.code, "message": "injected by the test"}
                    ).encode()
                else:
                    content_type = "application/xml"
                    body = (
                        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{fault.code}</Code>"
                        f"<Message>injected by the test</Message></Error>"
                    ).encode()
                self.send_response(fault.status)
                self.send_header("Content-Type", content_type)
                self.send_header(
                    "Content-Length", "0" if self.command == "HEAD" else str(len(body))
                )
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        return Handler


class TcpProxy:
    """A loopback TCP relay (to MariaDB, say) that can drop the next connections on purpose,
    or go silent and then move to another server, as an endpoint does in a failover."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._to_drop = 0
        self.dropped = 0
        self.accepted = 0
        # Set while the endpoint is a host that vanished: nothing relayed, nothing closed.
        self._silent = threading.Event()
        self._links: set[_Link] = set()
        self._abandoned: list[_Link] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_next(self, connections: int) -> None:
        """Close the next ``connections`` connections as soon as they are accepted."""
        with self._lock:
            self._to_drop = connections

    def go_silent(self) -> None:
        """Act as a host that vanished: open connections and new ones get no answer and no
        reset, whatever the server behind does, until ``repoint``."""
        self._silent.set()

    def repoint(self, upstream_host: str, upstream_port: int) -> int:
        """Relay new connections to ``upstream_host:upstream_port`` and answer again.

        The connections open until now are cut (a reset, as from a server that went away)
        unless the relay went silent: those stay unanswered, as a vanished host's do, until
        their clients give up. How many were open."""
        with self._lock:
            self._upstream = (upstream_host, upstream_port)
            links, self._links = self._links, set()
            for link in links:
                link.abandoned = self._silent.is_set()
            self._abandoned += [link for link in links if link.abandoned]
            self._silent.clear()
        for link in links:
            if not link.abandoned:
                link.close()
        return len(links)

    def stop(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            links, self._links = [*self._links, *self._abandoned], set()
        for link in links:
            link.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                drop = self._to_drop > 0
                if drop:
                    self._to_drop -= 1
                    self.dropped += 1
                target_address = self._upstream
            if drop:
                client.close()
                continue
            threading.Thread(
                target=self._connect, args=(client, target_address), daemon=True
            ).start()

    def _connect(self, client: socket.socket, address: tuple[str, int]) -> None:
        if self._silent.is_set():
            link = _Link(client, None, self._silent)
            with self._lock:
                self._links.add(link)
            return  # accepted, never answered: the client's timeout ends it
        try:
            upstream = socket.create_connection(address, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        link = _Link(client, upstream, self._silent)
        with self._lock:
            self._links.add(link)
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=link.pump, args=(source, target), daemon=True).start()


class _Link:
    """One relayed connection: a client and its upstream (None: no upstream was reached)."""

    def __init__(
        self, client: socket.socket, upstream: socket.socket | None, silent: threading.Event
    ) -> None:
        self.client, self.upstream = client, upstream
        self._silent = silent
        # Left behind by a move while silent: never answered, never closed by the relay.
        self.abandoned = False

    def pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                if not (self._silent.is_set() or self.abandoned):
                    target.sendall(chunk)
        except OSError:
            pass
        if self._silent.is_set() or self.abandoned:
            # A vanished host's connections end in their clients' timeouts, not in a reset.
            # The client's own hang-up still closes its end.
            if source is self.client:
                self.close()
            return
        self.close()

    def close(self) -> None:
        # Both ends close here: the other pump's recv then fails and it ends too; sockets
        # left to the garbage collector would warn (ResourceWarning) inside a later test.
        for end in (self.client, self.upstream):
            if end is None:
                continue
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()
