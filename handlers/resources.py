"""Generic collection and item handlers, driven by a CrudService named in the route table."""
from __future__ import annotations

from typing import Any

from core.cache import CachedResponse
from handlers.base import BaseHandler
from handlers.exports import stream_csv, wants_csv
from services.common.crud import CrudService, Page


class ResourceHandler(BaseHandler):
    service: CrudService

    def initialize(self, service: CrudService, **kwargs: Any) -> None:
        super().initialize(**kwargs)
        self.service = service
        self.cache_tags = service.tags
        if getattr(service, "uses_clock", False):  # the app's clock: "now" of the plant's floor
            service.clock = self.ctx.clock

    def location(self, ident: int) -> str:
        return f"/{self.service.name.replace('_', '-')}/{ident}"


class CollectionHandler(ResourceHandler):
    """`GET /things` (paged list) and `POST /things` (create)."""

    idempotent = frozenset({"POST"})

    async def get(self) -> None:
        if wants_csv(self.request.headers.get("Accept", "")):
            params = self.load_query(self.service.query_schema)
            await stream_csv(self, self.service, params, self.service.name)
            return

        async def compute() -> Page:
            # Validated on a miss only: an entry exists only for a query that passed, and the key
            # holds the whole query, so a hit needs no second check.
            params = self.load_query(self.service.query_schema)
            position = self.list_position(self.service, params)
            async with self.ctx.db.session() as session:
                if position is not None:
                    return await self.service.list_from(session, params, position)
                total = await self.list_total(session, params)
                return await self.service.list(session, params, total)

        await self.send_list(compute)

    async def list_total(self, session: Any, params: dict[str, Any]) -> int | None:
        """The filter's row count, cached apart from the pages: every page and sort of one filter
        shares it, so a page the cache has not seen does not count a million rows again. It sits
        in the response cache under the same tables, so the writes that drop pages drop it too.
        None (the list counts for itself) when the cache is off."""
        cache = self.ctx.cache
        if cache is None or cache.ttl <= 0:
            return None

        async def count() -> CachedResponse:
            # In the first asker's session (one connection per page, as without the cache): it
            # outlives the count, since that page's own compute waits for it, and is never cancelled.
            total = await self.service.count(session, params)
            return CachedResponse(str(total).encode(), "text/plain", "")

        key = ("list-total", self.service.name, self.service.filter_key(params))
        counted, _ = await cache.get_or_compute(key, self.cache_tags, count, counted=False)
        return int(counted.body)

    async def post(self) -> None:
        data = self.load_body(self.service.validator)
        async with self.ctx.db.write() as uow:
            payload = await self.service.create_dumped(uow, data, self.principal)
        self.created(payload, self.location(payload["id"]))


class ItemHandler(ResourceHandler):
    """`GET|PATCH|PUT|DELETE /things/{id}`."""

    async def get(self, ident: str) -> None:
        async def compute() -> dict[str, Any]:
            async with self.ctx.db.session() as session:
                return await self.service.read(session, int(ident))

        await self.send_cached(compute)

    async def patch(self, ident: str) -> None:
        await self._update(int(ident), partial=True)

    async def put(self, ident: str) -> None:
        # As PATCH: the fields sent are updated, the others kept (clients of the old system send
        # only what changed). Each field sent is validated as on create.
        await self._update(int(ident), partial=True)

    async def _update(self, ident: int, *, partial: bool) -> None:
        data = self.load_body(self.service.validator, partial=partial)
        async with self.ctx.db.write() as uow:
            row = await self.service.update(uow, ident, data, self.principal)
            payload = self.service.dump(row)
        self.send_json(payload)

    async def delete(self, ident: str) -> None:
        async with self.ctx.db.write() as uow:
            await self.service.delete(uow, int(ident), self.principal)
        self.no_content()
