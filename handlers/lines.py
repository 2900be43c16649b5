"""`/lines` and `/lines/{code}`: the generic resource handlers, keyed by a line's code."""
from __future__ import annotations

from typing import Any

from handlers.resources import CollectionHandler, ItemHandler
from schemas.line import LineSchema

_TAGS = ["lines"]


class LineCollectionHandler(CollectionHandler):
    """`GET /lines` and `POST /lines` (the new line's Location is /lines/{code})."""

    async def post(self) -> None:
        data = self.load_body(self.service.validator)
        async with self.ctx.db.write() as uow:
            row = await self.service.create(uow, data, self.principal)
            payload = self.service.dump(row)
        self.created(payload, f"/lines/{payload['code']}")


class LineItemHandler(ItemHandler):
    """`GET|PATCH|PUT|DELETE /lines/{code}`."""

    docs = {
        "GET": {"summary": "Read a line", "tags": _TAGS, "cached": True, "responses": {200: LineSchema}},
        "PATCH": {"summary": "Change a line's name or active flag", "tags": _TAGS,
                  "body": LineSchema(partial=True, exclude=("code",)), "responses": {200: LineSchema},
                  "errors": (409,),
                  "description": "The code never changes (422 if a different one is sent)."},
        "PUT": {"summary": "Update a line (the fields sent, as PATCH)", "tags": _TAGS,
                "body": LineSchema(partial=True, exclude=("code",)), "responses": {200: LineSchema},
                "errors": (409,),
                "description": "Updates the fields sent and keeps the others, like PATCH; each field "
                               "sent is validated as on create. `code`, if sent, must be the line's own."},
        "DELETE": {"summary": "Delete a line", "tags": _TAGS, "responses": {204: None}, "errors": (409,),
                   "description": "409 while records, stops or work orders name it: set active false."},
    }

    async def get(self, code: str) -> None:
        async def compute() -> dict[str, Any]:
            async with self.ctx.db.session() as session:
                return self.service.dump(await self.service.get(session, code))

        await self.send_cached(compute)

    async def patch(self, code: str) -> None:
        await self._update(code, partial=True)  # type: ignore[arg-type]

    async def put(self, code: str) -> None:
        await self._update(code, partial=True)  # type: ignore[arg-type]

    async def delete(self, code: str) -> None:
        async with self.ctx.db.write() as uow:
            await self.service.delete(uow, code, self.principal)
        self.no_content()
