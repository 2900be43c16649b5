"""Stop reasons: CRUD; a reason's code never changes, and stops keep it from being deleted."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import conflict, invalid
from models import LOSS_CATEGORIES, Stop, StopReason
from schemas.stop import StopReasonListQuery, StopReasonSchema
from services.common.crud import CrudService, same_text


class StopReasonService(CrudService):
    name = "stop_reasons"
    label = "Stop reason"
    model = StopReason
    schema = StopReasonSchema
    list_query = StopReasonListQuery
    sort_fields = ("id", "code", "label", "created_at", "updated_at")
    default_sort = "code"
    unique_fields = ("code",)

    def prepare_create(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "category": checked_category(data["planned"], data.get("category"))}

    async def before_update(self, uow: Any, row: StopReason, data: dict[str, Any], actor: Any) -> None:
        """A code that stops name stays (409); an unused reason may be renamed. The category must
        still fit the planned flag (422)."""
        if data.get("code", row.code) != row.code:
            await self.check_references(uow.session, row.id)
        if "category" in data or "planned" in data:
            category = data.get("category", row.category)
            if category is None and row.category is None and "category" not in data:
                return  # an unclassified reason (`unassigned`) stays so until someone classifies it
            data["category"] = checked_category(data.get("planned", row.planned), category)

    async def check_references(self, session: AsyncSession, ident: int) -> None:
        reason = await session.get(StopReason, ident)
        if await session.scalar(select(Stop.id).where(Stop.reason == reason.code).limit(1)) is not None:
            raise conflict(f"Stop reason {reason.code} is named by stops; set active to false instead.")


def checked_category(planned: bool, category: str | None) -> str:
    """The category a reason may have: `planned` for a planned one, one of the six big losses for an
    unplanned one (422 naming `category` otherwise); none given picks `planned` or `breakdown`."""
    if category is None:
        return "planned" if planned else "breakdown"
    if planned and category != "planned":
        raise invalid({"category": ["A planned reason's category is 'planned'."]})
    if not planned and category not in LOSS_CATEGORIES:
        raise invalid({"category": ["An unplanned reason's category is one of: "
                                    f"{', '.join(LOSS_CATEGORIES)}."]})
    return category


async def active_reason(session: AsyncSession, code: str) -> StopReason:
    """The active reason with this code, or a 422 naming `reason`."""
    reason = (await session.execute(
        select(StopReason).where(same_text(StopReason.code, code, session.bind.dialect.name)))).scalar()
    if reason is None:
        raise invalid({"reason": [f"No stop reason has the code {code!r}."]})
    if not reason.active:
        raise invalid({"reason": [f"Stop reason {reason.code} is not active."]})
    return reason
