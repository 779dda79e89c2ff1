"""The backbone's operations, each one atomic on the server (Lua where it takes several steps).

Jobs wait on one stream per engine, read by the workers' consumer group: a job taken
by a worker stays pending until acknowledged, so a worker that dies leaves it to be
claimed by another once its lease (idle time) runs out. Results go to a stream per job;
each result index and the end are published once, whichever worker runs the job how
often, so clients see every image exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sfumato.backbone.events import END_EVENT_LUA, QUEUED_EVENT_LUA, end_event
from sfumato.backbone.keys import ASYNC_GROUP, WORKER_GROUP, Keys

# KEYS: queued counter, queue stream, job hash, events stream, request key ("" without a requestId), signals,
# progress stream (its first event: queued, with the position)
# Publishes "queued <engine>" so idle workers look at once.
# ARGV: limit, job id, retention seconds, engine id, then field/value pairs of the job hash
# Returns 0 (the engine's queue is full), 1 (queued) or the job id that already owns the requestId.
_ENQUEUE = """
if KEYS[5] ~= '' then
  local owner = redis.call('GET', KEYS[5])
  if owner then return owner end
end
local queued = tonumber(redis.call('GET', KEYS[1]) or '0')
if queued >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[3], unpack(ARGV, 5))
redis.call('XGROUP', 'CREATE', KEYS[4], 'async', '0', 'MKSTREAM')
redis.call('INCR', KEYS[1])
""" + QUEUED_EVENT_LUA + """redis.call('XADD', KEYS[2], '*', 'job', ARGV[2])
if KEYS[5] ~= '' then redis.call('SET', KEYS[5], ARGV[2], 'EX', ARGV[3]) end
redis.call('PUBLISH', KEYS[6], 'queued ' .. ARGV[4])
return 1
"""

# Taking new jobs and counting them out of the queue in one step, so the count never drifts; each comes
# with what the worker needs of its hash, and is marked running there.
# KEYS: per engine, its queue stream then its queued counter; ARGV: consumer, job hash prefix, then a count
# per engine. Returns {engine position (1-based), entry id, job id, state, cancel, received, payload}.
_TAKE = """
local taken = {}
for i = 1, #KEYS / 2 do
  local reply = redis.call('XREADGROUP', 'GROUP', 'workers', ARGV[1], 'COUNT', ARGV[i + 2], 'STREAMS', KEYS[2 * i - 1], '>')
  if reply then
    local entries = reply[1][2]
    for _, entry in ipairs(entries) do
      local fields = entry[2]
      for f = 1, #fields, 2 do
        if fields[f] == 'job' then
          local job = ARGV[2] .. fields[f + 1]
          local state, cancel, received, payload = unpack(redis.call('HMGET', job, 'state', 'cancel', 'received', 'payload'))
          if state == 'queued' then redis.call('HSET', job, 'state', 'running', 'worker', ARGV[1]) end
          table.insert(taken, {i, entry[1], fields[f + 1], state or '', cancel or false, received or '0', payload or ''})
        end
      end
    end
    if #entries > 0 then redis.call('DECRBY', KEYS[2 * i], #entries) end
  end
end
return taken
"""

# KEYS: published hash, events stream; ARGV: index, result bytes
_PUBLISH_RESULT = """
if redis.call('HEXISTS', KEYS[1], 'end') == 1 then return 0 end
if redis.call('HSETNX', KEYS[1], ARGV[1], '1') == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 't', 'r', 'd', ARGV[2])
return 1
"""

# KEYS: published hash, events stream, job hash, signals channel, and the engine's queue stream when a
# worker ends the job it holds, progress stream; ARGV: code, message, retention seconds, job id, the queue
# entry id ("" if none), the last progress event's name and data
# The end, its signal and (for a worker) the acknowledgement in one step.
_PUBLISH_END = """
if ARGV[5] ~= '' then
  redis.call('XACK', KEYS[5], 'workers', ARGV[5])
  redis.call('XDEL', KEYS[5], ARGV[5])
end
if redis.call('HSETNX', KEYS[1], 'end', '1') == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 't', 'e', 'code', ARGV[1], 'message', ARGV[2])
redis.call('HSET', KEYS[3], 'state', 'done', 'code', ARGV[1], 'message', ARGV[2])
""" + END_EVENT_LUA + """for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
redis.call('PUBLISH', KEYS[4], 'end ' .. ARGV[4])
return 1
"""


@dataclass(frozen=True)
class Taken:
    """A job a worker took from an engine's queue, with what it needs to run it."""

    engine_id: str
    entry_id: bytes
    job_id: str
    state: str  # "" when the job's hash has expired
    cancel: str | None
    received_ms: int
    payload: bytes


@dataclass(frozen=True)
class Event:
    """One entry of a job's events stream: a result (``data``) or the end (``code``)."""

    id: bytes
    data: bytes | None = None
    code: int | None = None
    message: str = ""

    @property
    def is_end(self) -> bool:
        return self.code is not None


def _event(entry_id: bytes, fields: Mapping[bytes, bytes]) -> Event:
    if fields.get(b"t") == b"e":
        return Event(entry_id, code=int(fields[b"code"]), message=fields.get(b"message", b"").decode())
    return Event(entry_id, data=fields[b"d"])


class Backbone:
    def __init__(self, client: Any, keys: Keys, *, retention_seconds: float) -> None:
        self.client = client
        self.keys = keys
        self.retention = max(1, int(retention_seconds))
        self._enqueue = client.register_script(_ENQUEUE)
        self._publish_result = client.register_script(_PUBLISH_RESULT)
        self._publish_end = client.register_script(_PUBLISH_END)
        self._take = client.register_script(_TAKE)

    # ---- API replicas ----
    async def queued(self, engine_id: str) -> int:
        return int(await self.client.get(self.keys.queued(engine_id)) or 0)

    async def enqueue(
        self, engine_id: str, job_id: str, fields: Mapping[str, bytes | str | int], limit: int, request_key: str = ""
    ) -> bool | str:
        """Queue a job unless ``limit`` jobs already wait for the engine (checked atomically).

        With ``request_key``, a job that already owns it wins: its id is returned instead.
        """
        keys = self.keys
        flat: list[Any] = []
        for name, value in fields.items():
            flat += [name, value]
        outcome = await self._enqueue(
            keys=[keys.queued(engine_id), keys.queue(engine_id), keys.job(job_id), keys.events(job_id), request_key,
                  keys.signals, keys.progress(job_id)],
            args=[limit, job_id, self.retention, engine_id, *flat],
        )
        if isinstance(outcome, bytes):
            return outcome.decode()
        return bool(outcome)

    async def job(self, job_id: str) -> dict[bytes, bytes]:
        return await self.client.hgetall(self.keys.job(job_id))

    async def job_field(self, job_id: str, name: str) -> bytes | None:
        return await self.client.hget(self.keys.job(job_id), name)

    def request_key(self, client_id: str, request_id: str) -> str:
        return self.keys.request(client_id, request_id) if request_id else ""

    async def known_request(self, client_id: str, request_id: str) -> str | None:
        existing = await self.client.get(self.keys.request(client_id, request_id))
        return existing.decode() if existing else None

    async def read_events(self, job_id: str, after: bytes, block_ms: int) -> list[Event]:
        """Events after ``after`` (``b"0"``: all), waiting up to ``block_ms`` for one."""
        reply = await self.client.xread({self.keys.events(job_id): after}, count=64, block=block_ms)
        return [_event(entry_id, fields) for _, entries in reply for entry_id, fields in entries]

    async def take_events(self, job_id: str, consumer: str, block_ms: int) -> list[Event]:
        """Events no other reader got (consume-once across replicas), waiting up to ``block_ms``."""
        reply = await self.client.xreadgroup(
            ASYNC_GROUP, consumer, {self.keys.events(job_id): ">"}, count=64, block=block_ms, noack=True
        )
        return [_event(entry_id, fields) for _, entries in reply or () for entry_id, fields in entries]

    async def request_cancel(self, job_id: str, reason: str) -> None:
        await self.client.hset(self.keys.job(job_id), "cancel", reason)
        await self.client.publish(self.keys.signals, f"cancel {job_id}")

    # ---- both ----
    async def publish_end(
        self, job_id: str, code: int, message: str, *, engine_id: str = "", entry_id: bytes = b""
    ) -> bool:
        """End the job once (later calls change nothing); with ``entry_id``, also acknowledge its queue entry."""
        keys = self.keys
        ended = await self._publish_end(
            keys=[keys.published(job_id), keys.events(job_id), keys.job(job_id), keys.signals, keys.queue(engine_id),
                  keys.progress(job_id)],
            args=[int(code), message, self.retention, job_id, entry_id, *end_event(int(code), message)],
        )
        return bool(ended)

    # ---- workers ----
    async def ensure_group(self, engine_id: str) -> None:
        try:
            await self.client.xgroup_create(self.keys.queue(engine_id), WORKER_GROUP, id="0", mkstream=True)
        except Exception as exc:  # noqa: BLE001 - BUSYGROUP: another worker made it first
            if "BUSYGROUP" not in str(exc):
                raise

    async def take_new(self, consumer: str, wanted: Mapping[str, int]) -> list[Taken]:
        """New jobs for the engines in ``wanted`` (engine → how many), without waiting."""
        engines = list(wanted)
        keys = [key for engine_id in engines for key in (self.keys.queue(engine_id), self.keys.queued(engine_id))]
        reply = await self._take(
            keys=keys, args=[consumer, self.keys.job(""), *(wanted[engine_id] for engine_id in engines)]
        )
        return [
            Taken(engines[int(position) - 1], entry_id, job_id.decode(), state.decode(),
                  cancel.decode() if cancel else None, int(received), payload)
            for position, entry_id, job_id, state, cancel, received, payload in reply
        ]

    async def describe_taken(self, engine_id: str, entry_id: bytes, job_id: str) -> Taken:
        """The same for a job taken over from another worker (a rare path: two round trips are fine)."""
        fields = await self.client.hgetall(self.keys.job(job_id))
        cancel = fields.get(b"cancel")
        return Taken(engine_id, entry_id, job_id, fields.get(b"state", b"").decode(),
                     cancel.decode() if cancel else None, int(fields.get(b"received", 0)), fields.get(b"payload", b""))

    async def take_abandoned(self, consumer: str, engine_id: str, lease_ms: int, count: int) -> list[tuple[bytes, str, int]]:
        """Jobs whose worker stopped renewing them: (entry id, job id, deliveries so far, this one included)."""
        stream = self.keys.queue(engine_id)
        pending = await self.client.xpending_range(stream, WORKER_GROUP, min="-", max="+", count=count, idle=lease_ms)
        if not pending:
            return []
        deliveries = {item["message_id"]: int(item["times_delivered"]) for item in pending}
        claimed = await self.client.xclaim(stream, WORKER_GROUP, consumer, lease_ms, list(deliveries))
        return [
            (entry_id, fields[b"job"].decode(), deliveries[entry_id] + 1)
            for entry_id, fields in claimed
            if fields  # an entry deleted meanwhile comes back empty
        ]

    async def renew(self, consumer: str, engine_id: str, entry_ids: list[bytes]) -> None:
        """Reset the lease of jobs this worker runs (claiming them again does not count a delivery)."""
        if entry_ids:
            await self.client.xclaim(self.keys.queue(engine_id), WORKER_GROUP, consumer, 0, entry_ids, justid=True)

    async def release(self, consumer: str, engine_id: str, entry_ids: list[bytes], lease_ms: int) -> None:
        """Hand jobs back at once (a worker stopping): mark them idle past the lease."""
        if entry_ids:
            await self.client.xclaim(
                self.keys.queue(engine_id), WORKER_GROUP, consumer, 0, entry_ids, idle=lease_ms + 1, justid=True
            )

    async def publish_result(self, job_id: str, index: int, data: bytes) -> bool:
        keys = self.keys
        return bool(await self._publish_result(keys=[keys.published(job_id), keys.events(job_id)], args=[index, data]))

    async def ack(self, engine_id: str, entry_id: bytes) -> None:
        stream = self.keys.queue(engine_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(stream, WORKER_GROUP, entry_id)
        pipe.xdel(stream, entry_id)
        await pipe.execute()
