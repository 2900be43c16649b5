"""Machines (admin CRUD): which line, protocol and ids, which metrics count and state; their live
state (online/offline, last message) is written by the MQTT consumer (services/floor/machine_ingest.py)."""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import UnitOfWork
from core.errors import invalid
from models import Machine, MachineCount, Product, ProductionRecord, StopReason
from schemas.machine import MachineListQuery, MachineSchema, check_machine
from services.common.crud import CrudService, Reference
from services.floor.lines import active_line

CONFIG_FIELDS = ("name", "line", "protocol", "group_id", "node_id", "device_id", "good_metric",
                 "reject_metric", "total_metric", "state_metric", "fault_metric", "fault_reasons",
                 "product_id", "no_count_stop_seconds", "micro_stop_seconds", "active")
# What a plain-JSON machine's payload names, unless its machine says otherwise.
JSON_METRICS = {"good_metric": "good", "reject_metric": "reject", "state_metric": "state",
                "fault_metric": "code"}
DEFAULT_MICRO_STOP = 5.0


class MachineService(CrudService):
    name = "machines"
    label = "Machine"
    model = Machine
    schema = MachineSchema
    list_query = MachineListQuery
    sort_fields = ("id", "name", "line", "last_message_at", "created_at", "updated_at")
    default_sort = "name"
    unique_fields = ("name",)
    lean = False  # status (online/offline) is shown from a column, not stored as text
    references = (Reference(ProductionRecord, "machine_id", "production records"),)

    def dump(self, row: Machine) -> dict[str, Any]:
        payload = self._dump.dump(row)
        payload["status"] = "online" if row.online else "offline"
        return payload

    async def create(self, uow: UnitOfWork, data: dict[str, Any], actor: Any = None) -> Machine:
        await self.check_places(uow.session, data)
        return await super().create(uow, data, actor)

    def prepare_create(self, data: dict[str, Any]) -> dict[str, Any]:
        if data["protocol"] == "json":
            data = {**{name: value for name, value in JSON_METRICS.items()},
                    **{name: value for name, value in data.items() if value is not None}}
        return data

    async def before_update(self, uow: UnitOfWork, row: Machine, data: dict[str, Any], actor: Any) -> None:
        merged = {name: data.get(name, getattr(row, name)) for name in CONFIG_FIELDS}
        try:
            check_machine(merged)
        except ValidationError as exc:
            raise invalid(exc.messages) from None
        await self.check_places(uow.session, {name: value for name, value in data.items()
                                              if value != getattr(row, name)})

    async def check_places(self, session: AsyncSession, data: dict[str, Any]) -> None:
        """An active line, an existing product, and fault codes mapped to active stop reasons (422)."""
        if data.get("line") is not None:
            data["line"] = (await active_line(session, data["line"])).code
        if data.get("product_id") is not None and await session.get(Product, data["product_id"]) is None:
            raise invalid({"product_id": [f"Product {data['product_id']} does not exist."]})
        wanted = set((data.get("fault_reasons") or {}).values())
        if wanted:
            found = set((await session.execute(select(StopReason.code).where(
                StopReason.code.in_(wanted), StopReason.active.is_(True)))).scalars())
            missing = sorted(wanted - found)
            if missing:
                raise invalid({"fault_reasons": [f"No active stop reason has the code {missing[0]!r}."]})

    async def before_delete(self, uow: UnitOfWork, row: Machine, actor: Any) -> None:
        """Its count history goes with it (its production records keep it from going: 409)."""
        await uow.session.execute(MachineCount.__table__.delete().where(MachineCount.machine_id == row.id))
        uow.touch("machine_counts")

    # -- lists ----------------------------------------------------------------------------

    def filter_online(self, query: Any, value: bool) -> Any:
        return query.where(Machine.online.is_(value))
