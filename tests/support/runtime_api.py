"""A local stand-in for Lambda's Runtime API, enough for ``awslambdaric`` to run a handler:
it hands out queued invocations (``GET /runtime/invocation/next``) and keeps what the
runtime posts back (a response, an invocation error, an init error)."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:s3meta-indexer"


@dataclass
class Answer:
    """What the runtime posted for one invocation."""

    request_id: str
    kind: str  # "response" | "error"
    body: Any


class RuntimeApi:
    def __init__(self, deadline_seconds: float = 60) -> None:
        self.deadline_seconds = deadline_seconds
        self._pending: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.answers: queue.Queue[Answer] = queue.Queue()
        self.init_errors: list[Any] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def invoke(self, event: Any, timeout: float = 60) -> Answer:
        """Queue ``event`` for the runtime; what it answered."""
        request_id = str(uuid.uuid4())
        self._pending.put((request_id, json.dumps(event).encode()))
        answer = self.answers.get(timeout=timeout)
        assert answer.request_id == request_id
        return answer

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self._reply(404, b"{}")
                    return
                while True:  # the runtime long-polls for its next invocation
                    try:
                        request_id, body = api._pending.get(timeout=1)
                        break
                    except queue.Empty:
                        continue
                deadline = int((time.time() + api.deadline_seconds) * 1000)
                self._reply(
                    200,
                    body,
                    {
                        "Lambda-Runtime-Aws-Request-Id": request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline),
                        "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                        "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                    },
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                parts = self.path.removeprefix(PREFIX).strip("/").split("/")
                if parts == ["init", "error"]:
                    api.init_errors.append(body)
                    api.answers.put(Answer("", "init-error", body))
                elif len(parts) == 3 and parts[0] == "invocation":
                    api.answers.put(Answer(parts[1], parts[2], body))
                self._reply(202, b'{"status":"OK"}')

            def _reply(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler
