"""What machines say, applied: counts → production, states → stops, births and deaths → online.

The MQTT consumer (services/floor/mqtt_consumer.py) decodes messages into `Report`s and calls
`MachineFloor.apply_all` with a batch of them, which does everything they mean in one write
transaction — the machines' new baselines and states with the production, stops and events they
cause — so the consumer can acknowledge the batch once that transaction has committed. Counters
are absolute: the delta from the stored baseline is what counts, so a message delivered twice adds
nothing.

A batch is worked out in memory first, report by report in arrival order (each machine's deltas,
states, stops and micro-stops in the order the machine sent them), and its counts are written
once at the end: the deltas summed per target record — (machine, shift instance, work order or
product) — each record, its summary rows, stock and work order moved once, and the trend rows
summed per machine and second. A batch of thousands of counts costs the statements of a few.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, select

from core.clock import Clock
from core.db import Database, UnitOfWork
from models import Machine, MachineCount, Product, Stop, StopReason, WorkOrder
from services.floor.machines import DEFAULT_MICRO_STOP, MachineService
from services.floor.production import ProductionService
from services.floor.shift_time import current_instance
from services.floor.shifts import all_shifts
from services.floor.stops import lock_line, stop_payload

log = logging.getLogger("factory.machines")

UNASSIGNED = "unassigned"
RUNNING, STOPPED, FAULT, OFFLINE = "running", "stopped", "fault", "offline"
STATES = {RUNNING, STOPPED, FAULT}
MIN_NO_COUNT_STOP = 60.0
_machines = MachineService()
_production = ProductionService()


@dataclass(slots=True)
class Reading:
    """Metric values a machine reported at one moment (naive UTC)."""

    at: datetime
    values: dict[str, Any]
    historical: bool = False


@dataclass(slots=True)
class Report:
    """One message for the machines it names: Sparkplug (group, node, device) or a JSON line."""

    kind: str  # birth | data | death
    readings: list[Reading] = field(default_factory=list)
    protocol: str = "sparkplug"
    group: str | None = None
    node: str | None = None
    device: str | None = None
    line: str | None = None
    node_wide: bool = False  # an NDEATH: every machine of the node


class Batch:
    """One transaction's reports, worked out in memory: what is looked up once per batch, and the
    counts to write when the batch ends."""

    def __init__(self, uow: UnitOfWork, now: datetime) -> None:
        self.uow = uow
        self.now = now  # when the batch is applied: the machines' last message
        self.machines: dict[tuple[Any, ...], list[Machine]] = {}
        self.status: dict[int, tuple[Machine, tuple[Any, ...]]] = {}  # machine id → (it, before)
        self.shifts: list[Any] | None = None
        self.instances: dict[datetime, Any] = {}  # per second: the shift instance then
        self.orders: dict[tuple[str, Any, Any], WorkOrder | None] = {}
        self.ideals: dict[int, float | None] = {}
        self.silence_checked: set[int] = set()  # machines known to have no silence stop open
        # (machine id, date, shift, work order, product) → [machine, place, produced, defective]
        self.records: dict[tuple[Any, ...], list[Any]] = {}
        # (machine id, second) → [line, good, reject, micro-stops, micro-stop seconds]
        self.counts: dict[tuple[int, datetime], list[Any]] = {}

    def touched(self, machine: Machine) -> None:
        if machine.id not in self.status:
            self.status[machine.id] = (machine, (machine.online, machine.state, machine.fault_code))


def machine_tag(machine: Machine) -> str:
    """`reported_by` of the stops a machine opens."""
    return f"machine:{machine.name}"[:64]


def as_count(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value < 2**63:
        return value
    return None


def as_state(value: Any) -> str | None:
    if isinstance(value, bool):
        return RUNNING if value else STOPPED
    if isinstance(value, int):
        return {0: STOPPED, 1: RUNNING, 2: FAULT}.get(value)
    if isinstance(value, str) and value.strip().lower() in STATES | {OFFLINE}:
        return value.strip().lower()
    return None


class MachineFloor:
    """Applies reports in write transactions; `sweep` finds machines gone silent."""

    def __init__(self, db: Database, clock: Clock, offline_seconds: float = 30.0) -> None:
        self.db = db
        self.clock = clock
        self.offline_seconds = offline_seconds

    def now(self) -> datetime:
        return self.clock.utcnow()

    async def apply(self, report: Report) -> str:
        """The report's result: applied, unchanged, unknown_machine, backwards or no_product."""
        return (await self.apply_all([report]))[0]

    async def apply_all(self, reports: list[Report]) -> list[str]:
        """Several reports in one transaction, in order; their results."""
        async with self.db.write() as uow:
            batch = Batch(uow, self.now())
            results = [await self._apply_report(batch, report) for report in reports]
            await self._write(batch)
            return results

    async def _write(self, batch: Batch) -> None:
        """The batch's sums: each record grows once, the trend rows in one INSERT, and one
        `machine.status` per machine whose status the batch changed."""
        uow = batch.uow
        for machine, place, produced, defective in batch.records.values():
            await _production.add_machine_count(uow, machine, place, produced, defective)
        if batch.counts:
            await uow.session.execute(insert(MachineCount), [
                {"machine_id": machine_id, "line": line, "at": at, "good": good, "reject": reject,
                 "micro_stops": micro, "micro_stop_seconds": round(seconds, 3)}
                for (machine_id, at), (line, good, reject, micro, seconds) in batch.counts.items()])
            uow.touch("machine_counts")
        changed = [machine for machine, before in batch.status.values()
                   if (machine.online, machine.state, machine.fault_code) != before]
        if changed:
            await uow.session.flush()
            for machine in changed:
                uow.emit("lines", "machine.status", _machines.dump(machine))

    async def _apply_report(self, batch: Batch, report: Report) -> str:
        machines = await self._machines(batch, report)
        if not machines:
            if report.protocol == "sparkplug" and report.device is None and await self._machines(
                    batch, Report(report.kind, protocol="sparkplug", group=report.group, node=report.node,
                                  node_wide=True)):
                return "unchanged"  # the node's own messages; its devices are the machines
            return "unknown_machine"
        results = [await self._apply(batch, machine, report) for machine in machines]
        for result in ("backwards", "no_product", "applied"):
            if result in results:
                return result
        return "unchanged"

    async def _machines(self, batch: Batch, report: Report) -> list[Machine]:
        """The report's machines, locked; looked up once per batch."""
        key = (report.protocol, report.line, report.group, report.node, report.device, report.node_wide)
        if key in batch.machines:
            return batch.machines[key]
        query = select(Machine).where(Machine.active.is_(True), Machine.protocol == report.protocol)
        if report.protocol == "json":
            query = query.where(Machine.line == report.line)
        else:
            query = query.where(Machine.group_id == report.group, Machine.node_id == report.node)
            if not report.node_wide:
                query = query.where(Machine.device_id.is_(None) if report.device is None
                                    else Machine.device_id == report.device)
        query = query.order_by(Machine.id).with_for_update()
        found = list((await batch.uow.session.execute(query)).scalars())
        batch.machines[key] = found
        return found

    async def _apply(self, batch: Batch, machine: Machine, report: Report) -> str:
        now = batch.now
        batch.touched(machine)
        before = (machine.online, machine.state, machine.fault_code)
        machine.last_message_at = max(now, machine.last_message_at or now)
        result = "unchanged"
        if report.kind == "death":
            self._offline(machine, now)
        else:
            if not machine.online:
                machine.online, machine.offline_since = True, None
            for reading in sorted(report.readings, key=lambda r: r.at):
                outcome = await self._reading(batch, machine, reading, birth=report.kind == "birth")
                if outcome != "unchanged" and result not in ("backwards", "no_product"):
                    result = outcome
        if (machine.online, machine.state, machine.fault_code) != before and result == "unchanged":
            result = "applied"
        return result

    def _offline(self, machine: Machine, now: datetime) -> None:
        if machine.online:
            machine.online, machine.offline_since = False, now

    async def _reading(self, batch: Batch, machine: Machine, reading: Reading, *, birth: bool) -> str:
        values = reading.values
        state = as_state(values.get(machine.state_metric)) if machine.state_metric else None
        if state == OFFLINE:  # a JSON device's last will
            self._offline(machine, batch.now)
            return "applied"
        code = values.get(machine.fault_metric) if machine.fault_metric else None
        code = None if code in (None, "", 0) else str(code)[:64]
        result = "unchanged"
        if state == RUNNING:
            result = max(result, await self._state(batch, machine, state, code, reading.at), key=_rank)
        counted = await self._count(batch, machine, reading, birth)
        result = max(result, counted, key=_rank)
        if state in (STOPPED, FAULT) or (state is None and code and machine.state == FAULT
                                         and code != machine.fault_code):
            result = max(result, await self._state(batch, machine, state or FAULT, code, reading.at),
                         key=_rank)
        return result

    # -- counts ---------------------------------------------------------------------------

    async def _count(self, batch: Batch, machine: Machine, reading: Reading, birth: bool) -> str:
        good = as_count(reading.values.get(machine.good_metric)) if machine.good_metric else None
        other_metric = machine.reject_metric or machine.total_metric
        other = as_count(reading.values.get(other_metric)) if other_metric else None
        if good is None and other is None:
            return "unchanged"
        if birth:  # the baseline: a lower value is a reset; a higher one is counted by what follows
            if good is not None and (machine.good_count is None or good < machine.good_count):
                machine.good_count = good
            if other is not None and (machine.reject_count is None or other < machine.reject_count):
                machine.reject_count = other
            return "applied"
        if ((good is not None and machine.good_count is not None and good < machine.good_count)
                or (other is not None and machine.reject_count is not None and other < machine.reject_count)):
            return "backwards"  # a reset without a BIRTH: nothing counts, the baseline stays
        more_good = 0 if good is None or machine.good_count is None else good - machine.good_count
        more_other = 0 if other is None or machine.reject_count is None else other - machine.reject_count
        if good is not None:
            machine.good_count = good
        if other is not None:
            machine.reject_count = other
        if machine.total_metric:
            produced = max(more_other, more_good)
            defective = produced - more_good
        else:
            produced, defective = more_good + more_other, more_other
        if produced <= 0:
            return "unchanged"
        place = await self._place(batch, machine, reading.at)
        if place is None:
            return "no_product"
        micro, micro_seconds = await self._gap(batch, machine, reading, place["ideal"])
        target = {name: value for name, value in place.items() if name != "ideal"}
        record = batch.records.setdefault((machine.id, *target.values()), [machine, target, 0, 0])
        record[2] += produced
        record[3] += defective
        row = batch.counts.setdefault((machine.id, reading.at.replace(microsecond=0)),
                                      [machine.line, 0, 0, 0, 0.0])
        row[1] += produced - defective
        row[2] += defective
        row[3] += micro
        row[4] += micro_seconds
        if machine.last_count_at is None or reading.at > machine.last_count_at:
            machine.last_count_at = reading.at
        return "applied"

    async def _place(self, batch: Batch, machine: Machine, at: datetime) -> dict[str, Any] | None:
        """The shift instance at `at`, and the work order (or the machine's product) it counts for:
        the instance of each reading's own moment, so counts after a shift change go to a record
        of the new instance. Shifts, work orders and products are read once per batch."""
        session = batch.uow.session
        if batch.shifts is None:
            batch.shifts = await all_shifts(session)
        second = at.replace(microsecond=0)
        if second not in batch.instances:
            batch.instances[second] = current_instance(batch.shifts, second.replace(tzinfo=UTC),
                                                       self.clock.zone)
        instance = batch.instances[second]
        day = instance.date if instance else at.replace(tzinfo=UTC).astimezone(self.clock.zone).date()
        shift = instance.shift if instance else None
        order = None
        if shift is not None:
            where = (machine.line, day, shift)
            if where not in batch.orders:
                batch.orders[where] = (await session.execute(select(WorkOrder).where(
                    WorkOrder.line == machine.line, WorkOrder.date == day, WorkOrder.shift == shift,
                    WorkOrder.status.in_(("released", "in_progress")))
                    .order_by((WorkOrder.status == "in_progress").desc(), WorkOrder.id).limit(1))).scalar()
            order = batch.orders[where]
        product_id = order.product_id if order is not None else machine.product_id
        if product_id is None:
            return None
        return {"date_produced": day, "shift": shift, "work_order_id": order.id if order else None,
                "product_id": product_id, "ideal": await self._ideal(batch, product_id)}

    async def _gap(self, batch: Batch, machine: Machine, reading: Reading,
                   ideal: float | None) -> tuple[int, float]:
        """A count after a silence: the silence stop it ends, or the micro-stop it was."""
        if reading.historical or machine.last_count_at is None or reading.at <= machine.last_count_at:
            return 0, 0.0
        gap = (reading.at - machine.last_count_at).total_seconds()
        # Only the sweep opens silence stops, never a batch: one found missing stays missing.
        if machine.id not in batch.silence_checked:
            batch.silence_checked.add(machine.id)
            if await self._end_stop(batch, machine, reading.at, silence_only=True):
                return 0, 0.0
        micro_limit, stop_limit = limits(machine, ideal)
        if machine.state in (None, RUNNING) and micro_limit < gap < stop_limit:
            return 1, round(gap, 3)
        return 0, 0.0

    # -- states and stops -----------------------------------------------------------------

    async def _state(self, batch: Batch, machine: Machine, state: str, code: str | None,
                     at: datetime) -> str:
        if state == machine.state and (state != FAULT or code == machine.fault_code):
            return "unchanged"
        machine.state, machine.fault_code = state, code if state == FAULT else None
        if state == RUNNING:
            await self._end_stop(batch, machine, at)
        else:
            reason = machine.fault_reasons.get(code) if code and machine.fault_reasons else None
            note = f"{machine.name}: {state}" + (f" (code {code})" if code else "")
            await self._open_stop(batch.uow, machine, at, reason, note)
        return "applied"

    async def _open_stop(self, uow: UnitOfWork, machine: Machine, at: datetime, reason_code: str | None,
                         note: str) -> Stop | None:
        """The line stops at `at` for the reason (or `unassigned`), unless it is stopped already."""
        session = uow.session
        await lock_line(session, machine.line)
        if (await session.execute(select(Stop.id).where(Stop.open_line == machine.line))).scalar():
            return None
        reason = None
        if reason_code:
            reason = (await session.execute(select(StopReason).where(
                StopReason.code == reason_code, StopReason.active.is_(True)))).scalar()
        if reason is None:
            reason = (await session.execute(select(StopReason).where(StopReason.code == UNASSIGNED))).scalar()
        # Never before the end of the line's last stop: stops of one line never overlap.
        last_end = await session.scalar(select(Stop.ended_at).where(Stop.line == machine.line)
                                         .order_by(Stop.ended_at.desc()).limit(1))
        started = max(at, last_end) if last_end else at
        stop = Stop(line=machine.line, reason=reason.code, started_at=started, open_line=machine.line,
                    note=note[:500], reported_by=machine_tag(machine))
        stop.reason_info = reason
        session.add(stop)
        await session.flush()
        uow.emit("lines", "line.stopped", stop_payload(stop, self.now()))
        return stop

    async def _end_stop(self, batch: Batch, machine: Machine, at: datetime, *,
                        silence_only: bool = False) -> Stop | None:
        """End the line's open stop if this machine opened it (only a silence stop if asked)."""
        uow = batch.uow
        query = select(Stop).where(Stop.open_line == machine.line, Stop.reported_by == machine_tag(machine))
        if silence_only:
            query = query.where(Stop.reason == UNASSIGNED, Stop.note.like("%no count%"))
        stop = (await uow.session.execute(query.with_for_update())).scalar()
        if stop is None:
            return None
        stop.ended_at, stop.open_line = max(at, stop.started_at), None
        await uow.session.flush()
        uow.emit("lines", "line.started", stop_payload(stop, self.now()))
        return stop

    # -- silence --------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Machines silent past the offline limit go offline; running ones without a count past
        their no-count limit stop (`unassigned`). Returns how many machines changed."""
        now = self.now()
        # A read first, and a write transaction (locking machines) only for those that may be due:
        # once a second, it must not hold up the batches of machines that are fine.
        async with self.db.session() as session:
            rows = await session.execute(select(
                Machine.id, Machine.last_message_at, Machine.state, Machine.last_count_at,
                Machine.no_count_stop_seconds).where(
                Machine.active.is_(True), Machine.online.is_(True),
                and_(Machine.last_message_at.is_not(None))))
            candidates = [row.id for row in rows if _may_be_due(row, now, self.offline_seconds)]
        if not candidates:
            return 0
        changed = 0
        async with self.db.write() as uow:
            machines = (await uow.session.execute(select(Machine).where(Machine.id.in_(candidates))
                                                  .order_by(Machine.id).with_for_update())).scalars()
            for machine in machines:
                if now - machine.last_message_at > timedelta(seconds=self.offline_seconds):
                    self._offline(machine, now)
                    await uow.session.flush()
                    uow.emit("lines", "machine.status", _machines.dump(machine))
                    changed += 1
                    continue
                if machine.state not in (None, RUNNING) or machine.last_count_at is None:
                    continue
                ideal = await self._ideal(Batch(uow, now), machine.product_id)
                _, stop_limit = limits(machine, ideal)
                silent = (now - machine.last_count_at).total_seconds()
                if silent > stop_limit:
                    stop = await self._open_stop(uow, machine, machine.last_count_at, None,
                                                 f"{machine.name}: no count for {int(stop_limit)} s")
                    changed += stop is not None
        return changed

    async def _ideal(self, batch: Batch, product_id: int | None) -> float | None:
        """A product's ideal cycle in seconds, read once per batch."""
        if product_id is None:
            return None
        if product_id not in batch.ideals:
            ideal = await batch.uow.session.scalar(select(Product.ideal_cycle_seconds)
                                                   .where(Product.id == product_id))
            batch.ideals[product_id] = float(ideal) if ideal else None
        return batch.ideals[product_id]


def _may_be_due(row: Any, now: datetime, offline_seconds: float) -> bool:
    """Silent past the offline limit, or running without a count past the least its no-count
    limit can be (the sweep's write transaction then decides with the product's ideal cycle)."""
    if now - row.last_message_at > timedelta(seconds=offline_seconds):
        return True
    if row.state not in (None, RUNNING) or row.last_count_at is None:
        return False
    least = row.no_count_stop_seconds or MIN_NO_COUNT_STOP
    return (now - row.last_count_at).total_seconds() > least


def limits(machine: Machine, ideal: float | None) -> tuple[float, float]:
    """(micro-stop, no-count stop) seconds: the machine's own, else from the ideal cycle."""
    micro = machine.micro_stop_seconds or (2 * ideal if ideal else DEFAULT_MICRO_STOP)
    stop = machine.no_count_stop_seconds or max(MIN_NO_COUNT_STOP, 5 * ideal if ideal else 0)
    return float(micro), float(stop)


_RANKS = {"unchanged": 0, "applied": 1, "no_product": 2, "backwards": 3}


def _rank(result: str) -> int:
    return _RANKS.get(result, 0)
