"""Live events through one Redis Stream: global ids, every process delivers every event, replay anywhere.

Publishing runs one Lua script per batch of committed events: it takes the next ids from a
counter and XADDs each frame with the explicit stream id `<n>-0`, so the stream's order is the
id order. Every process (the publisher too) delivers only what its reader task gets back from
XREAD, in stream order, through `EventHub.publish_event`; the hub's replay buffer therefore holds
the same ids everywhere and `since` works whichever process a client reconnects to. On start a
process backfills its replay buffer from the stream's tail.

While Redis is away the hub numbers events itself (local delivery only); when it is back every
process raises the counter above its own last id, so global ids carry on above the local ones.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from core.cluster import BLOCK_SECONDS, Cluster, ClusterUnavailable
from core.tasks import spawn
from realtime.hub import Event, EventHub, encode_frame, format_instant, utc_now

log = logging.getLogger("factory.cluster")

# KEYS: counter, stream. ARGV: approximate stream length, floor (the caller's newest id), then
# each frame without its opening `{"type":"event","id":<n>,`. Returns the last id assigned.
PUBLISH = """
local last = tonumber(redis.call('GET', KEYS[1]))
if last == nil then
  local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  last = 0
  if newest[1] then last = tonumber(string.match(newest[1][1], '^(%d+)')) end
end
local floor = tonumber(ARGV[2])
if last < floor then last = floor end
for i = 3, #ARGV do
  last = last + 1
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], last .. '-0',
             'frame', '{"type":"event","id":' .. last .. ',' .. ARGV[i])
end
redis.call('SET', KEYS[1], last)
return last
"""
READ_BATCH = 1000


class EventStream:
    """The cluster's live-event transport; its `publish` is the commit publisher's sink."""

    def __init__(self, cluster: Cluster, hub: EventHub) -> None:
        self.cluster = cluster
        self.hub = hub
        self.stream = cluster.key("events")
        self.counter = cluster.key("events", "last_id")
        self.length = max(hub.replay_size, 1)
        self._script = cluster.redis.register_script(PUBLISH)
        self._outbox: list[tuple[str, str, dict[str, Any], str]] = []
        self._sender: asyncio.Task[None] | None = None
        self._position: bytes | str | None = None  # the newest stream entry this process has read

    def publish(self, topic: str, name: str, data: dict[str, Any]) -> None:
        """Queue one committed event for the stream (or deliver it here if Redis is away)."""
        if not self.cluster.available:
            self.hub.publish(topic, name, data)
            return
        frame = encode_frame({"topic": topic, "event": name, "at": format_instant(utc_now()), "data": data})
        self._outbox.append((topic, name, data, frame[1:]))
        if self._sender is None or self._sender.done():
            self._sender = spawn(self._send())

    async def flush(self) -> None:
        """Wait until every queued event has been appended (or delivered locally)."""
        if self._sender is not None and not self._sender.done():
            await asyncio.shield(self._sender)

    async def _send(self) -> None:
        # One sender at a time keeps this process's events in commit order in the stream.
        while self._outbox:
            batch, self._outbox = self._outbox, []
            try:
                await self.cluster.call(self._script(keys=[self.counter, self.stream],
                                                     args=[self.length, self.hub.last_id,
                                                           *(tail for *_, tail in batch)]))
            except ClusterUnavailable:
                for topic, name, data, _ in batch:
                    self.hub.publish(topic, name, data)

    async def resume(self) -> None:
        """Raise the counter above this process's ids; on first start, backfill the replay buffer."""
        await self._script(keys=[self.counter, self.stream], args=[self.length, self.hub.last_id])
        if self._position is None:
            newest = await self.cluster.redis.xrevrange(self.stream, count=self.length)
            for entry_id, fields in reversed(newest):
                self._deliver(entry_id, fields)
            self._position = newest[0][0] if newest else b"0-0"

    async def run(self) -> None:
        redis = self.cluster.blocking
        block = int(1000 * BLOCK_SECONDS)
        while True:
            reply = await redis.xread({self.stream: self._position}, count=READ_BATCH, block=block)
            for _, entries in reply or ():
                for entry_id, fields in entries:
                    self._deliver(entry_id, fields)

    def _deliver(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        self._position = entry_id
        try:
            event = Event.from_frame(fields[b"frame"].decode())
        except (KeyError, ValueError, UnicodeDecodeError):
            log.warning("skipping malformed live event %r in the stream", entry_id)
            return
        self.hub.publish_event(event)
