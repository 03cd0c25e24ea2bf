# kombu is untyped: every call into its event loop and HTTP client would need an ignore.
# mypy: disable-error-code="no-untyped-call"
"""s3meta.compat.kombu: each patch still matches the kombu code it overrides or calls."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kombu.asynchronous import Hub
from kombu.asynchronous.http import Request
from kombu.asynchronous.http.curl import CurlClient
from kombu.transport import SQS
from vine import promise

from s3meta.compat import Mirrored, drifted
from s3meta.compat import kombu as compat

PATCHES = [
    compat.ShortQueueNames,
    compat.SnsFanoutForTopics,
    compat.FailedReceiveDeliversNothing,
    compat.NoPollAfterClose,
    compat.BlockingDeleteWithoutHub,
    compat.RepliesByQueueName,
    compat.QueueHeartbeat,
    compat.AutoDeleteQueues,
    compat.DeleteForgetsItsQueue,
    compat.RecreateVanishedControlQueues,
    compat.ReadReceiveOnCancel,
    compat.PurgeCountsOnce,
    compat.ReturnReservedOnClose,
    compat.BatchedAcks,
    compat.ProcessMailbox,
]


@pytest.mark.parametrize("patch", PATCHES, ids=lambda patch: patch.__name__)
def test_the_kombu_methods_a_patch_mirrors_are_unchanged(patch: type) -> None:
    mirrors: tuple[Mirrored, ...] = patch.MIRRORS  # type: ignore[attr-defined]

    assert mirrors, f"{patch.__name__} names no kombu method it mirrors"
    assert drifted(mirrors) == []


@pytest.mark.parametrize("patch", PATCHES[:-1], ids=lambda patch: patch.__name__)
def test_a_channel_patch_overrides_only_methods_it_names_or_adds(patch: type) -> None:
    named = {mirrored.name for mirrored in patch.MIRRORS}  # type: ignore[attr-defined]
    overridden = {
        name
        for name, value in vars(patch).items()
        if callable(value) or isinstance(value, property)
        if hasattr(SQS.Channel, name) and not name.startswith("__")
    }

    assert overridden <= named, f"{patch.__name__} overrides {overridden - named} unnamed"


def test_the_transport_channel_carries_every_channel_patch() -> None:
    assert set(PATCHES[:-1]) <= set(compat.Channel.__mro__)
    assert compat.Transport.Channel is compat.Channel


def test_an_sns_subscription_still_caches_subscription_arns_per_queue() -> None:
    import inspect

    from kombu.transport.SQS.SNS import _SnsSubscription

    assert "self._subscription_arn_cache" in inspect.getsource(_SnsSubscription.__init__)


def test_the_batched_send_mirrors_kombus_put() -> None:
    assert drifted(compat.PUT_MIRRORS) == []


def test_a_batched_message_is_framed_as_kombus_publish_frames_one() -> None:
    assert drifted(compat.FRAME_MIRRORS) == []


def test_the_running_kombu_is_the_series_the_patches_mirror() -> None:
    from s3meta.compat import release

    low, high = compat.SERIES
    assert low <= release(compat.VERSION) < high


def test_a_receive_ending_after_its_channel_closed_schedules_nothing() -> None:
    channel = object.__new__(compat.Channel)
    channel.closed = True
    channel.connection = None

    channel._loop1("queue", messages_fetched=None)  # kombu's own raised AttributeError here


def test_a_failed_receive_delivers_nothing_instead_of_breaking_the_poll_loop() -> None:
    # kombu hands a timed-out or 5xx ReceiveMessage over as [] instead of a response dict.
    channel = object.__new__(compat.Channel)

    assert channel._on_messages_ready("queue-url", "queue", []) == 0


class _SlowAnswers(ThreadingHTTPServer):
    """Answers every GET with its path after ``delay`` seconds (or once ``release`` is set)."""

    daemon_threads = True

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.release.wait(server.delay)
                body = self.path.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def slow_server(request: pytest.FixtureRequest) -> Iterator[_SlowAnswers]:
    server = _SlowAnswers(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def _request_in_flight(server: _SlowAnswers) -> tuple[CurlClient, promise, list[bytes]]:
    client = CurlClient(Hub())
    bodies: list[bytes] = []
    answer = promise(lambda response: bodies.append(response.body))
    request = Request(f"http://127.0.0.1:{server.server_address[1]}/answer")
    request.then(answer)
    client.add_request(request)
    return client, answer, bodies


@pytest.mark.parametrize("slow_server", [0.3], indirect=True)
def test_a_request_in_flight_is_read_to_its_answer_without_the_event_loop(
    slow_server: _SlowAnswers,
) -> None:
    client, answer, bodies = _request_in_flight(slow_server)

    assert compat.read_until_settled(client, answer, time.monotonic() + 10)
    assert bodies == [b"/answer"]
    client.close()


@pytest.mark.parametrize("slow_server", [30.0], indirect=True)
def test_reading_a_request_in_flight_gives_up_at_its_deadline(slow_server: _SlowAnswers) -> None:
    client, answer, bodies = _request_in_flight(slow_server)
    deadline = time.monotonic() + 0.3

    assert not compat.read_until_settled(client, answer, deadline)
    assert time.monotonic() < deadline + 5
    assert bodies == []
    client.close()


@pytest.mark.parametrize("slow_server", [30.0], indirect=True)
def test_a_closed_client_is_not_read(slow_server: _SlowAnswers) -> None:
    client, answer, _ = _request_in_flight(slow_server)
    client.close()

    assert not compat.read_until_settled(client, answer, time.monotonic() + 30)
