"""Counting relays: every AWS request in front of moto, every MySQL command in front of MariaDB.

One listener per client role, so that each design's traffic is counted apart from the
harness's. An HTTP listener counts requests by operation and queue (and the entries of
batch calls, the messages a ReceiveMessage returned); a delayed one holds each request
for the relay's delay before passing it on, as a network round trip to AWS would. A MySQL
listener counts the commands clients send (COM_QUERY by statement, COM_PING, ...).

The relays run in a process of their own (``RelayProcess``) so that their CPU is neither
the harness's nor a design's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

Kind = Literal["http", "mysql"]


@dataclass
class Tally:
    """What one listener saw: calls by label, items (batch entries, messages) by label."""

    calls: Counter[str] = field(default_factory=Counter)
    items: Counter[str] = field(default_factory=Counter)
    connections: int = 0

    def add_items(self, name: str, count: int) -> None:
        if count:
            self.items[name] += count

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "items": dict(self.items),
            "connections": self.connections,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        return cls(Counter(data["calls"]), Counter(data["items"]), int(data["connections"]))

    def __sub__(self, earlier: Tally) -> Tally:
        return Tally(
            self.calls - earlier.calls,
            self.items - earlier.items,
            self.connections - earlier.connections,
        )


# ---- HTTP: which AWS operation a request is -----------------------------------------


@dataclass(frozen=True)
class HttpMessage:
    """One HTTP request or response as read off the wire."""

    start: str  # the request or status line
    headers: dict[str, str]  # names lower-cased
    raw: bytes  # every byte as received, to forward
    body: bytes  # the payload, de-chunked
    closes: bool  # the connection ends after this message


def operation(method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[str, str]:
    """(AWS operation, queue name or ``""``) of a request to S3 or SQS."""
    path, _, query = target.partition("?")
    amz_target = headers.get("x-amz-target")
    if amz_target:  # JSON protocol (botocore's and kombu's SQS)
        fields = json.loads(body) if body.startswith(b"{") else {}
        queue = fields.get("QueueUrl") or fields.get("QueueName") or ""
        return amz_target.rsplit(".", 1)[-1], _queue_name(queue)
    form = body.decode() if "x-www-form-urlencoded" in headers.get("content-type", "") else query
    if "Action=" in form:  # query protocol
        fields = {name: values[0] for name, values in parse_qs(form).items()}
        queue = fields.get("QueueUrl") or fields.get("QueueName") or (path if path != "/" else "")
        return fields["Action"], _queue_name(queue)
    return _s3_operation(method, path, query), ""


def _queue_name(url_or_name: str) -> str:
    return urlsplit(url_or_name).path.rstrip("/").rsplit("/", 1)[-1]


_S3_OPERATIONS = {  # method -> (on a bucket, on an object)
    "HEAD": ("HeadBucket", "HeadObject"),
    "GET": ("ListObjects", "GetObject"),
    "PUT": ("CreateBucket", "PutObject"),
    "DELETE": ("DeleteBucket", "DeleteObject"),
    "POST": ("PostBucket", "PostObject"),
}


def _s3_operation(method: str, path: str, query: str) -> str:
    """S3's path-style operations; a sub-resource (``?tagging``, ``?list-type``) is appended."""
    on_object = "/" in path.strip("/")
    name = _S3_OPERATIONS.get(method, (method, method))[on_object]
    # botocore names some operations in an x-id parameter; the path and method tell already.
    subresources = [p.split("=", 1)[0] for p in query.split("&") if p and not p.startswith("x-id=")]
    return f"{name}?{subresources[0]}" if subresources else name


def items_sent(op: str, body: bytes) -> int:
    """Entries of a batch call (SendMessageBatch, DeleteMessageBatch, ...); 0 otherwise."""
    if not op.endswith("Batch"):
        return 0
    if body.startswith(b"{"):
        return len(json.loads(body).get("Entries", []))
    return len(re.findall(rb"Entry\.\d+\.Id=", body))


def messages_received(op: str, body: bytes) -> int:
    """Messages a ReceiveMessage answer holds; 0 for any other answer."""
    if op != "ReceiveMessage":
        return 0
    return body.count(b'"ReceiptHandle"') or body.count(b"<ReceiptHandle>")


def label(op: str, queue: str) -> str:
    return f"{op}[{queue}]" if queue else op


# ---- MySQL: which command a client packet is ----------------------------------------

_COMMANDS = {
    0x01: "COM_QUIT", 0x02: "COM_INIT_DB", 0x04: "COM_FIELD_LIST", 0x09: "COM_STATISTICS",
    0x0E: "COM_PING", 0x11: "COM_CHANGE_USER", 0x16: "COM_STMT_PREPARE",
    0x17: "COM_STMT_EXECUTE", 0x18: "COM_STMT_SEND_LONG_DATA", 0x19: "COM_STMT_CLOSE",
    0x1A: "COM_STMT_RESET", 0x1B: "COM_SET_OPTION", 0x1F: "COM_RESET_CONNECTION",
}  # fmt: skip
# Commands the server does not answer: no round trip.
NO_REPLY = frozenset({"COM_QUIT", "COM_STMT_CLOSE", "COM_STMT_SEND_LONG_DATA"})
_COM_QUERY = 0x03
# How db.together joins the statements of one query. A driver escapes a newline inside a
# value (PyMySQL sends a backslash and an n), so only a separator follows a semicolon with one.
_NEXT_STATEMENT = b";\n"
_NAMED_WITHIN = 2000  # bytes of a statement enough to name it
_COMMENTS = re.compile(r"^(?:\s+|/\*.*?\*/)+", re.S)
_FIRST_TOKEN = re.compile(r"[(\s=,]")
_TABLE_AFTER = {
    "INSERT": re.compile(r"\bINTO\s+`?(\w+)", re.I),
    "REPLACE": re.compile(r"\bINTO\s+`?(\w+)", re.I),
    "UPDATE": re.compile(r"^UPDATE\s+`?(\w+)", re.I),
    "DELETE": re.compile(r"\bFROM\s+`?(\w+)", re.I),
    "SELECT": re.compile(r"\bFROM\s+`?(\w+)", re.I),
}


def statement_kind(sql: str) -> str:
    """A statement's verb and table: ``INSERT object_journal``, ``SELECT t FOR UPDATE``, ``COMMIT``.

    A SELECT without a table names what it selects (``SELECT nextval``, ``SELECT 1``).
    """
    text = _COMMENTS.sub("", sql)
    words = text.split(None, 2)
    if not words:
        return "(empty)"
    verb = words[0].upper()
    pattern = _TABLE_AFTER.get(verb)
    table = pattern.search(text) if pattern else None
    if table:
        locking = " FOR UPDATE" if text.rstrip().upper().endswith("FOR UPDATE") else ""
        return f"{verb} {table.group(1)}{locking}"
    if len(words) > 1 and verb in ("SELECT", "SET", "SHOW"):  # SELECT 1, SET autocommit, ...
        return f"{verb} {_FIRST_TOKEN.split(words[1], maxsplit=1)[0]}"[:40]
    return verb


def command_kind(payload: bytes) -> str:
    """The kind of the command a client packet's payload starts."""
    if payload[0] == _COM_QUERY:
        return statement_kind(payload[1:_NAMED_WITHIN].decode(errors="replace"))
    return _COMMANDS.get(payload[0], f"COM_{payload[0]:#04x}")


class CommandCounter:
    """Splits a client's byte stream into MySQL packets; names each command it starts.

    A query of several statements (``db.together``) is named by its first, with how many
    more it carries: ``INSERT object_metadata +3 statements``.

    A packet is a 3-byte little-endian length, a sequence number and the payload; every
    command starts a new exchange at sequence 0. The client's handshake answers and
    continuation packets carry other numbers, so they are not commands.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        kinds: list[str] = []
        while len(self._buffer) >= 4:
            length = int.from_bytes(self._buffer[:3], "little")
            if len(self._buffer) < 4 + length:
                break
            sequence = self._buffer[3]
            start = bytes(self._buffer[4 : 4 + min(length, _NAMED_WITHIN)])
            more = (
                self._buffer.count(_NEXT_STATEMENT, 4, 4 + length)
                if start[:1] == bytes([_COM_QUERY])
                else 0
            )
            del self._buffer[: 4 + length]
            if sequence == 0 and start:
                kind = command_kind(start)
                kinds.append(f"{kind} +{more} statements" if more else kind)
        return kinds


# ---- the relays ----------------------------------------------------------------------


async def read_http(reader: asyncio.StreamReader, *, bodiless: bool = False) -> HttpMessage | None:
    """The next message on ``reader``; None at end of stream. ``bodiless``: a HEAD's answer."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    start = lines[0]
    status = start.split(" ", 2)[1] if start.startswith("HTTP/") else ""
    connection = headers.get("connection", "").lower()
    http10 = "HTTP/1.0" in (start[:8], start[-8:])
    closes = connection == "close" or (http10 and connection != "keep-alive")
    if bodiless or status[:1] == "1" or status in ("204", "304"):
        return HttpMessage(start, headers, head, b"", closes)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raw, body = await _read_chunked(reader)
        return HttpMessage(start, headers, head + raw, body, closes)
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
        return HttpMessage(start, headers, head + body, body, closes)
    if status:  # an answer without framing ends with its connection
        body = await reader.read()
        return HttpMessage(start, headers, head + body, body, True)
    return HttpMessage(start, headers, head, b"", closes)


async def _read_chunked(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    raw, body = bytearray(), bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        raw += line
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                raw += trailer
            raw += trailer
            return bytes(raw), bytes(body)
        chunk = await reader.readexactly(size + 2)
        raw += chunk
        body += chunk[:-2]


@dataclass(frozen=True)
class ListenerSpec:
    name: str
    kind: Kind
    upstream: tuple[str, int]
    delayed: bool = False  # HTTP: hold each request for the relay's delay


Handler = Callable[[ListenerSpec, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Relay:
    """The listeners of ``specs``, on loopback ports of their own, in the running event loop."""

    def __init__(self, specs: list[ListenerSpec], delay: float = 0.0) -> None:
        self.specs = specs
        self.delay = delay
        self.tallies = {spec.name: Tally() for spec in specs}
        self.ports: dict[str, int] = {}

    async def start(self) -> None:
        for spec in self.specs:
            handler = self._http if spec.kind == "http" else self._mysql

            async def serve(
                reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter,
                spec: ListenerSpec = spec,
                handler: Handler = handler,
            ) -> None:
                self.tallies[spec.name].connections += 1
                try:
                    await handler(spec, reader, writer)
                except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    pass
                finally:
                    writer.close()

            server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=256)
            self.ports[spec.name] = int(server.sockets[0].getsockname()[1])

    async def _http(
        self, spec: ListenerSpec, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        tally = self.tallies[spec.name]
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while request := await read_http(reader):
                method, target = request.start.split(" ", 2)[:2]
                op, queue = operation(method, target, request.headers, request.body)
                name = label(op, queue)
                tally.calls[name] += 1
                tally.add_items(name, items_sent(op, request.body))
                if spec.delayed and self.delay > 0:
                    await asyncio.sleep(self.delay)
                if upstream is None:
                    upstream = await asyncio.open_connection(*spec.upstream)
                upstream[1].write(request.raw)
                await upstream[1].drain()
                response = await read_http(upstream[0], bodiless=method == "HEAD")
                if response is None:
                    return
                tally.add_items(name, messages_received(op, response.body))
                writer.write(response.raw)
                await writer.drain()
                if response.closes or request.closes:
                    return
        finally:
            if upstream is not None:
                upstream[1].close()

    async def _mysql(
        self, spec: ListenerSpec, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        tally = self.tallies[spec.name]
        counter = CommandCounter()
        upstream_reader, upstream_writer = await asyncio.open_connection(*spec.upstream)
        answers = asyncio.ensure_future(_pump(upstream_reader, writer))
        try:
            while data := await reader.read(65536):
                tally.calls.update(counter.feed(data))
                upstream_writer.write(data)
                await upstream_writer.drain()
        finally:
            upstream_writer.close()
            answers.cancel()

    def counts(self) -> dict[str, dict[str, Any]]:
        return {name: tally.to_json() for name, tally in self.tallies.items()}


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


# ---- the relay process ---------------------------------------------------------------


def main() -> None:
    """``python -m benchmarks.relays SPEC``: prints the ports, then answers on stdin.

    ``counts`` prints every listener's tally as one JSON line; ``delay SECONDS`` sets the
    delay of the delayed listeners; end of input stops the relay.
    """
    specs = [
        ListenerSpec(item["name"], item["kind"], tuple(item["upstream"]), item["delayed"])
        for item in json.loads(sys.argv[1])
    ]
    asyncio.run(_serve(Relay(specs)))


async def _serve(relay: Relay) -> None:
    await relay.start()
    print(json.dumps(relay.ports), flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        match line.split():
            case ["delay", seconds]:
                relay.delay = float(seconds)
                print("{}", flush=True)
            case ["counts"]:
                print(json.dumps(relay.counts()), flush=True)
            case _:
                print(json.dumps({"error": f"unknown command {line.strip()!r}"}), flush=True)


class RelayProcess:
    """The relays of ``specs`` in a child process; its stderr goes to ``log``."""

    def __init__(self, specs: list[ListenerSpec], log: Path) -> None:
        spec_json = json.dumps([asdict(spec) for spec in specs])
        self._log_path = log
        self._log = log.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "benchmarks.relays", spec_json],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.ports: dict[str, int] = self._answer()

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def set_delay(self, seconds: float) -> None:
        self._ask(f"delay {seconds}")

    def counts(self) -> dict[str, Tally]:
        return {name: Tally.from_json(data) for name, data in self._ask("counts").items()}

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()

    def _ask(self, command: str) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer()

    def _answer(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the relay process exited; see {self._log_path}")
        return json.loads(line)


if __name__ == "__main__":
    main()
