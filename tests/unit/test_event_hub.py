"""EventHub: id order, replay seam, resync, filters, topics, slow clients, frames built once."""

import asyncio
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import tornado.httpserver
import tornado.testing
import tornado.web
import tornado.websocket

from realtime.frames import StreamFrames
from realtime.hub import Event, EventHub, SubscriptionError
from tests.doubles import FrameWriter, attach_sender
from tests.waiting import eventually

ALL_TOPICS = ["production", "orders", "inventory"]


class Connection:
    """Stands in for a WebSocket: records every frame sent and the close call."""

    def __init__(self, hub: EventHub, stalled: bool = False) -> None:
        self.frames: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.stalled = stalled
        self.subscriber = attach_sender(hub, self.send, self.close)

    async def send(self, text: str) -> None:
        if self.stalled:  # a client that stopped reading: the write never completes
            await asyncio.get_running_loop().create_future()
        self.frames.append(text)

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def messages(self) -> list[dict]:
        return [json.loads(frame) for frame in self.frames]

    def event_ids(self) -> list[int]:
        return [m["id"] for m in self.messages() if m["type"] == "event"]

    def types(self) -> list[str]:
        return [m["type"] for m in self.messages()]


def production_row(product_id: int = 1, line: str | None = "L1", produced: int = 10) -> dict:
    return {"product_id": product_id, "line": line, "quantity_produced": produced}


async def settle() -> None:
    """Let every writer task run until its queue is empty (a long replay takes a turn per 64 KB)."""
    for _ in range(200):
        await asyncio.sleep(0)


def fixed_clock() -> datetime:
    return datetime(2026, 11, 26, 16, 0, 0, tzinfo=UTC)


def test_ids_start_at_one_and_the_frame_follows_the_contract():
    hub = EventHub(clock=fixed_clock)
    first = hub.publish("production", "production.recorded", {"id": 7, "price": Decimal("12.50"),
                                                              "date_produced": date(2026, 11, 26)})
    second = hub.publish("orders", "order.created", {"id": 3})

    assert (first.id, second.id, hub.last_id) == (1, 2, 2)
    assert first.at == "2026-11-26T16:00:00.000Z"
    assert json.loads(first.frame) == {
        "type": "event", "id": 1, "topic": "production", "event": "production.recorded",
        "at": "2026-11-26T16:00:00.000Z",
        "data": {"id": 7, "price": "12.50", "date_produced": "2026-11-26"},
    }
    assert first.frame.startswith('{"type":"event","id":1,"topic":"production"')
    assert ", " not in first.frame and '": ' not in first.frame  # compact separators
    with pytest.raises(ValueError, match="unknown topic"):
        hub.publish("payroll", "salary.paid", {})


def test_events_arrive_in_id_order_across_topics():
    async def scenario():
        hub = EventHub()
        conn = Connection(hub)
        conn.subscriber.subscribe(ALL_TOPICS)
        for n in range(300):
            hub.publish(ALL_TOPICS[n % 3], "order.created", {"n": n})
            if n % 7 == 0:
                await asyncio.sleep(0)
        await settle()
        assert conn.types()[0] == "subscribed"
        assert conn.event_ids() == list(range(1, 301))
        assert hub.delivered == 300

    asyncio.run(scenario())


def test_subscribed_reply_comes_first_then_the_replay_then_live_events():
    async def scenario():
        hub = EventHub()
        for _ in range(5):
            hub.publish("production", "production.recorded", production_row())
        conn = Connection(hub)
        last_id = conn.subscriber.subscribe(["production"], since=2)
        hub.publish("production", "production.recorded", production_row())
        await settle()

        assert last_id == 5
        first, *events = conn.messages()
        assert first == {"type": "subscribed", "topics": ["production"], "last_id": 5}
        assert [e["id"] for e in events] == [3, 4, 5, 6]

    asyncio.run(scenario())


def test_replay_seam_has_no_gap_and_no_duplicate_under_concurrent_publishing():
    async def scenario():
        hub = EventHub(replay_size=10_000)
        joined: list[tuple[Connection, int]] = []

        async def publisher():
            for n in range(1_500):
                hub.publish(ALL_TOPICS[n % 3], "production.recorded", production_row())
                if n % 3 == 0:
                    await asyncio.sleep(0)

        async def joiner():
            for n in range(100):
                conn = Connection(hub)
                if n % 5 == 0:  # live only: everything after the id the reply announced
                    since = conn.subscriber.subscribe(ALL_TOPICS)
                else:
                    since = max(0, hub.last_id - n)
                    conn.subscriber.subscribe(ALL_TOPICS, since=since)
                joined.append((conn, since))
                for _ in range(n % 4 + 1):
                    await asyncio.sleep(0)

        await asyncio.gather(publisher(), joiner())
        await settle()
        assert joined[0][1] < joined[-1][1] < hub.last_id  # joins spread over the burst
        for conn, since in joined:
            assert conn.event_ids() == list(range(since + 1, hub.last_id + 1))

    asyncio.run(scenario())


def test_resync_when_since_is_older_than_the_replay_buffer():
    async def scenario():
        hub = EventHub(replay_size=10)
        for _ in range(30):
            hub.publish("orders", "order.created", {"status": "pending"})
        assert hub.first_id == 21

        too_old = Connection(hub)
        too_old.subscriber.subscribe(["orders"], since=19)
        just_in = Connection(hub)
        just_in.subscriber.subscribe(["orders"], since=20)
        await settle()
        assert too_old.types() == ["subscribed", "resync"]
        assert "since=19" in too_old.messages()[1]["reason"]
        assert just_in.event_ids() == list(range(21, 31))

        # Still subscribed live after a resync; resubscribing with the reloaded state's id
        # neither repeats nor skips anything.
        hub.publish("orders", "order.created", {"status": "pending"})
        too_old.subscriber.subscribe(["orders"], since=30)
        hub.publish("orders", "order.created", {"status": "pending"})
        await settle()
        assert too_old.event_ids() == [31, 32]

    asyncio.run(scenario())


def test_resync_when_since_is_ahead_of_the_feed_after_a_restart():
    async def scenario():
        hub = EventHub()
        hub.publish("orders", "order.created", {})
        conn = Connection(hub)
        conn.subscriber.subscribe(["orders"], since=500)
        await settle()
        assert conn.types() == ["subscribed", "resync"]

    asyncio.run(scenario())


def test_filters_pass_events_with_an_equal_value_or_without_the_key():
    async def scenario():
        hub = EventHub()
        by_product = Connection(hub)
        by_product.subscriber.subscribe(ALL_TOPICS, filters={"product_id": 1})
        by_line = Connection(hub)
        by_line.subscriber.subscribe(ALL_TOPICS, filters={"line": "L2"})
        by_lines = Connection(hub)
        by_lines.subscriber.subscribe(ALL_TOPICS, filters={"line": ["L1", "L2"]})

        hub.publish("production", "production.recorded", production_row(1, "L1"))  # 1
        hub.publish("production", "production.recorded", production_row(2, "L2"))  # 2
        hub.publish("orders", "order.created", {"id": 9, "status": "pending"})  # 3: no keys
        hub.publish("production", "production.recorded", production_row(1, None))  # 4
        await settle()

        assert by_product.event_ids() == [1, 3, 4]
        assert by_line.event_ids() == [2, 3]
        assert by_lines.event_ids() == [1, 2, 3]

        replayed = Connection(hub)
        replayed.subscriber.subscribe(["production"], since=0, filters={"product_id": 2})
        await settle()
        assert replayed.event_ids() == [2]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("topics", "since", "filters"),
    [
        (["payroll"], None, None),
        ("production", None, None),
        ([["production"]], None, None),
        (["production"], -1, None),
        (["production"], "5", None),
        (["production"], None, {"customer_id": 1}),
        (["production"], None, {"product_id": "1"}),
        (["production"], None, {"line": 2}),
        (["production"], None, {"line": []}),
        (["production"], None, {"line": ["L1", 2]}),
        (["production"], None, {"line": [f"L{n}" for n in range(51)]}),
    ],
)
def test_bad_subscriptions_are_refused_without_changing_anything(topics, since, filters):
    async def scenario():
        hub = EventHub()
        conn = Connection(hub)
        with pytest.raises(SubscriptionError):
            conn.subscriber.subscribe(topics, since=since, filters=filters)
        assert conn.subscriber.topics == set()
        await settle()
        assert conn.frames == []

    asyncio.run(scenario())


def test_topics_are_isolated_and_unsubscribe_stops_delivery():
    async def scenario():
        hub = EventHub()
        production = Connection(hub)
        production.subscriber.subscribe(["production"])
        orders = Connection(hub)
        orders.subscriber.subscribe(["orders"])

        hub.publish("production", "production.recorded", production_row())  # 1
        hub.publish("orders", "order.created", {})  # 2
        hub.publish("inventory", "stock.low", {"id": 1})  # 3
        await settle()
        orders.subscriber.unsubscribe(["orders", "inventory"])
        hub.publish("orders", "order.created", {})  # 4
        await settle()

        assert production.event_ids() == [1]
        assert orders.event_ids() == [2]
        assert hub.subscribers == 2

    asyncio.run(scenario())


def test_a_stalled_subscriber_is_closed_while_another_gets_the_whole_burst():
    async def scenario():
        hub = EventHub(queue_size=1_000)
        stalled = Connection(hub, stalled=True)
        stalled.subscriber.subscribe(ALL_TOPICS)
        healthy = Connection(hub)
        healthy.subscriber.subscribe(ALL_TOPICS)

        for n in range(5_000):
            hub.publish("production", "production.recorded", production_row())
            if n % 100 == 99:  # requests interleave with the loop; the burst is still 5,000
                await asyncio.sleep(0)
        await settle()

        assert stalled.closed == (1013, "client too slow")
        assert not stalled.subscriber.attached
        assert hub.dropped == 1
        assert hub.subscribers == 1
        assert healthy.closed is None
        assert healthy.event_ids() == list(range(1, 5_001))
        assert hub.metrics()["published"] == 5_000

    asyncio.run(scenario())


def test_publish_never_blocks_even_when_every_queue_is_full():
    async def scenario():
        hub = EventHub(queue_size=10)
        conns = [Connection(hub, stalled=True) for _ in range(50)]
        for conn in conns:
            conn.subscriber.subscribe(["orders"])
        for _ in range(20):  # no await: publish is synchronous
            hub.publish("orders", "order.created", {})
        assert all(conn.closed == (1013, "client too slow") for conn in conns)
        assert hub.dropped == 50 and hub.subscribers == 0

    asyncio.run(scenario())


def test_a_replay_larger_than_the_queue_is_not_mistaken_for_a_slow_client():
    async def scenario():
        hub = EventHub(replay_size=5_000, queue_size=100)
        for _ in range(3_000):
            hub.publish("production", "production.recorded", production_row())
        conn = Connection(hub)
        conn.subscriber.subscribe(["production"], since=0)
        hub.publish("production", "production.recorded", production_row())
        await settle()
        assert conn.closed is None
        assert conn.event_ids() == list(range(1, 3_002))

    asyncio.run(scenario())


def test_each_frame_is_serialized_once_and_shared_by_every_subscriber():
    async def scenario():
        hub = EventHub()
        conns = [Connection(hub) for _ in range(3)]
        for conn in conns:
            conn.subscriber.subscribe(["inventory"])
        events = [hub.publish("inventory", "stock.changed", {"id": n}) for n in range(5)]
        await settle()
        for conn in conns:
            sent = conn.frames[1:]  # after the subscribed reply
            assert all(frame is event.frame for frame, event in zip(sent, events, strict=True))

    asyncio.run(scenario())


def test_the_writer_starts_every_queued_send_before_awaiting_any():
    async def scenario():
        hub = EventHub()
        loop = asyncio.get_running_loop()
        pending: list[asyncio.Future] = []

        def send(text: str) -> asyncio.Future:  # like Tornado's write_message: buffers on call
            future = loop.create_future()
            pending.append(future)
            return future

        subscriber = attach_sender(hub, send, lambda code, reason: None)
        subscriber.subscribe(["orders"])
        for _ in range(10):
            hub.publish("orders", "order.created", {})
        await settle()
        assert len(pending) == 11  # subscribed + 10 events, all started in one pass
        for future in pending:
            future.set_result(None)
        await settle()
        assert hub.delivered == 10

    asyncio.run(scenario())


def test_publish_event_skips_duplicates_and_older_ids():
    async def scenario():
        hub = EventHub()
        conn = Connection(hub)
        conn.subscriber.subscribe(["orders"])

        def numbered(event_id: int) -> Event:
            return Event.create(event_id, "orders", "order.created", {}, fixed_clock())

        accepted = [hub.publish_event(numbered(i)) for i in (10, 11, 11, 9, 14)]
        await settle()
        assert accepted == [True, True, False, False, True]
        assert conn.event_ids() == [10, 11, 14]
        assert hub.publish("orders", "order.created", {}).id == 15

        copy = Event.from_frame(numbered(20).frame)
        assert (copy.id, copy.topic, copy.at) == (20, "orders", "2026-11-26T16:00:00.000Z")

    asyncio.run(scenario())


def test_a_failing_send_drops_only_that_subscriber():
    async def scenario():
        hub = EventHub()
        ok = Connection(hub)
        ok.subscriber.subscribe(["orders"])

        async def broken_send(text: str) -> None:
            raise ConnectionResetError

        closed: list[int] = []
        broken = attach_sender(hub, broken_send, lambda code, reason: closed.append(code))
        broken.subscribe(["orders"])
        hub.publish("orders", "order.created", {})
        await settle()
        hub.publish("orders", "order.created", {})
        await settle()

        assert not broken.attached and closed == [1011]
        assert ok.event_ids() == [1, 2]
        assert hub.subscribers == 1

    asyncio.run(scenario())


def test_replies_are_queued_in_order_and_detach_unregisters():
    async def scenario():
        hub = EventHub()
        conn = Connection(hub)
        conn.subscriber.subscribe(["orders"])
        hub.publish("orders", "order.created", {})
        conn.subscriber.push('{"type":"pong"}')
        await settle()
        assert conn.types() == ["subscribed", "event", "pong"]

        conn.subscriber.detach()
        conn.subscriber.detach()  # idempotent
        hub.publish("orders", "order.created", {})
        await settle()
        assert conn.types() == ["subscribed", "event", "pong"]
        assert hub.subscribers == 0 and conn.closed is None
        assert conn.subscriber.push('{"type":"pong"}') is False

    asyncio.run(scenario())


def test_shutdown_closes_every_subscriber():
    async def scenario():
        hub = EventHub()
        conns = [Connection(hub) for _ in range(3)]
        hub.shutdown()
        assert [conn.closed for conn in conns] == [(1001, "server shutting down")] * 3
        assert hub.subscribers == 0

    asyncio.run(scenario())


def parse_server_frames(data: bytes) -> list[str]:
    """Decode unmasked RFC 6455 text frames."""
    texts, at = [], 0
    while at < len(data):
        assert data[at] == 0x81  # FIN + text
        size, at = data[at + 1], at + 2
        if size == 126:
            size, at = int.from_bytes(data[at:at + 2], "big"), at + 2
        elif size == 127:
            size, at = int.from_bytes(data[at:at + 8], "big"), at + 8
        texts.append(data[at:at + size].decode())
        at += size
    return texts


def test_frame_writer_joins_one_turns_frames_into_one_write():
    async def scenario():
        writes: list[bytes] = []
        closes: list[tuple[int, str]] = []

        def write(data: bytes) -> asyncio.Future:  # like IOStream.write: buffers on call
            writes.append(data)
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

        frames = FrameWriter(write, lambda code, reason: closes.append((code, reason)))
        texts = ["é" * 5, "x" * 300, "y" * 70_000]
        sent = [frames.send(text) for text in texts]
        assert writes == []  # nothing is written until the sender yields
        for future in sent:
            await future
        assert len(writes) == 1 and parse_server_frames(writes[0]) == texts

        frames.send("last words")
        frames.close(1013, "client too slow")  # pending data goes out before the close frame
        assert parse_server_frames(writes[1]) == ["last words"]
        assert closes == [(1013, "client too slow")]
        await settle()

    asyncio.run(scenario())


def test_frame_writer_reports_a_failed_write_to_the_sender():
    async def scenario():
        def write(data: bytes) -> None:
            raise ConnectionResetError

        frames = FrameWriter(write, lambda code, reason: None)
        with pytest.raises(ConnectionResetError):
            await frames.send("hello")

    asyncio.run(scenario())


class FeedHandler(tornado.websocket.WebSocketHandler):
    """The smallest real WebSocket endpoint wired the way the /ws handler should be."""

    def initialize(self, hub: EventHub) -> None:
        self.hub = hub

    def open(self) -> None:
        frames = FrameWriter(self.ws_connection.stream.write, self.close)
        self.subscriber = attach_sender(self.hub, frames.send, frames.close)
        self.subscriber.subscribe(ALL_TOPICS, since=0)

    def on_close(self) -> None:
        self.subscriber.detach()


def test_frame_writer_frames_reach_a_real_websocket_client_in_order():
    async def scenario():
        hub = EventHub()
        hub.publish("orders", "order.created", {"id": 1, "note": "ünïcode"})
        sock, port = tornado.testing.bind_unused_port()
        server = tornado.httpserver.HTTPServer(
            tornado.web.Application([(r"/ws", FeedHandler, {"hub": hub})])
        )
        server.add_sockets([sock])
        client = await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{port}/ws")
        try:
            assert json.loads(await client.read_message())["type"] == "subscribed"
            for n in range(2, 1_002):
                hub.publish("production", "production.recorded", production_row(produced=n))
                if n % 50 == 0:
                    await asyncio.sleep(0)
            received = [json.loads(await client.read_message()) for _ in range(1_001)]
            assert [m["id"] for m in received] == list(range(1, 1_002))
            assert received[0]["data"]["note"] == "ünïcode"
        finally:
            client.close()
            server.stop()
            await settle()
        assert await eventually(lambda: hub.subscribers == 0), "the closed client stays subscribed"

    asyncio.run(scenario())


class Sink:
    """A `FrameSink` that records each write; a stalled one leaves its first write buffered forever."""

    def __init__(self, hub: EventHub, stalled: bool = False) -> None:
        self.writes: list[list[str]] = []
        self.closed: tuple[int, str] | None = None
        self.stalled = stalled
        self.buffered: asyncio.Future | None = None
        self.subscriber = hub.attach(self)

    def write(self, frames: list[str]) -> asyncio.Future | None:
        self.writes.append(list(frames))
        if self.stalled:  # like IOStream.write when the socket is full: done once the client reads
            self.buffered = asyncio.get_running_loop().create_future()
            return self.buffered
        return None

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def event_ids(self) -> list[int]:
        messages = [json.loads(frame) for batch in self.writes for frame in batch]
        return [m["id"] for m in messages if m["type"] == "event"]


def test_one_flush_per_turn_writes_each_subscribers_burst_in_one_write_in_id_order():
    async def scenario():
        hub = EventHub()
        sinks = [Sink(hub) for _ in range(20)]
        for sink in sinks:
            sink.subscriber.subscribe(["production"])
        for _ in range(50):  # one loop turn: no await between the events
            hub.publish("production", "production.recorded", production_row())
        assert all(sink.writes == [] for sink in sinks)  # publish only queues
        await asyncio.sleep(0)
        for sink in sinks:
            assert len(sink.writes) == 1 and len(sink.writes[0]) == 51  # subscribed + the burst
            assert sink.event_ids() == list(range(1, 51))
        assert hub.delivered == 20 * 50

    asyncio.run(scenario())


def test_a_subscriber_with_a_buffered_write_waits_alone_and_is_closed_1013_on_overflow():
    async def scenario():
        hub = EventHub(queue_size=100)
        stalled = Sink(hub, stalled=True)
        stalled.subscriber.subscribe(["production"])
        healthy = [Sink(hub) for _ in range(3)]
        for sink in healthy:
            sink.subscriber.subscribe(["production"])
        await asyncio.sleep(0)  # the subscribed replies go out; the stalled one's stays buffered

        for n in range(1, 251):
            hub.publish("production", "production.recorded", production_row())
            await asyncio.sleep(0)
            # Every event reaches every healthy subscriber in the very next turn, whatever the stall.
            for sink in healthy:
                assert sink.event_ids()[-1:] == [n]
        assert len(stalled.writes) == 1  # nothing more written while its write is pending
        assert stalled.closed == (1013, "client too slow")
        assert not stalled.subscriber.attached
        assert all(sink.event_ids() == list(range(1, 251)) and sink.closed is None for sink in healthy)
        assert hub.dropped == 1

    asyncio.run(scenario())


def test_when_a_buffered_write_completes_the_queued_frames_follow_in_one_write_in_order():
    async def scenario():
        hub = EventHub(queue_size=100)
        slow = Sink(hub, stalled=True)
        slow.subscriber.subscribe(["orders"])
        await asyncio.sleep(0)
        for _ in range(30):
            hub.publish("orders", "order.created", {})
            await asyncio.sleep(0)
        slow.subscriber.push('{"type":"pong"}')
        assert len(slow.writes) == 1 and slow.subscriber.queued == 31

        slow.stalled = False
        slow.buffered.set_result(None)  # the client read: the socket has room again
        await asyncio.sleep(0)
        assert len(slow.writes) == 2 and slow.event_ids() == list(range(1, 31))
        assert json.loads(slow.writes[1][-1]) == {"type": "pong"}
        assert slow.closed is None and hub.delivered == 30

    asyncio.run(scenario())


class StreamFeedHandler(FeedHandler):
    """The /ws wiring: the hub writes each flush's frames straight to the socket."""

    def open(self) -> None:
        self.subscriber = self.hub.attach(StreamFrames(self.ws_connection.stream, self.close))
        self.subscriber.subscribe(ALL_TOPICS, since=0)


def test_stream_frames_deliver_a_burst_to_a_real_websocket_client_in_order():
    async def scenario():
        hub = EventHub(queue_size=10_000)  # these clients read in this loop: slowly, but they read
        hub.publish("orders", "order.created", {"id": 1, "note": "ünïcode"})
        sock, port = tornado.testing.bind_unused_port()
        server = tornado.httpserver.HTTPServer(
            tornado.web.Application([(r"/ws", StreamFeedHandler, {"hub": hub})])
        )
        server.add_sockets([sock])
        clients = [await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{port}/ws") for _ in range(3)]
        note = "x" * 2_000  # 500 of these per turn are more than a socket takes: writes get buffered

        async def read_all(client) -> list[dict]:
            return [json.loads(await client.read_message()) for _ in range(3_002)]

        try:
            reading = [asyncio.ensure_future(read_all(client)) for client in clients]
            for n in range(2, 3_002):
                hub.publish("production", "production.recorded", {**production_row(produced=n), "note": note})
                if n % 500 == 0:
                    await asyncio.sleep(0)
            for received in await asyncio.gather(*reading):
                assert received[0]["type"] == "subscribed"
                assert [m["id"] for m in received[1:]] == list(range(1, 3_002))
                assert received[1]["data"]["note"] == "ünïcode"
        finally:
            for client in clients:
                client.close()
            server.stop()
            await settle()
        assert await eventually(lambda: hub.subscribers == 0), "closed clients stay subscribed"
        assert hub.dropped == 0

    asyncio.run(scenario())
