"""Orders: the generic collection, and an item handler whose only change is the status."""
from __future__ import annotations

from handlers.resources import CollectionHandler, ItemHandler
from schemas.order import OrderSchema, OrderStatusChangeSchema

_STATUS_DOC = {
    "tags": ["orders"], "body": OrderStatusChangeSchema, "responses": {200: OrderSchema}, "errors": (409,),
    "description": "Only `status` changes, one step at a time: pending → confirmed → in_production → "
                   "shipped → delivered, or cancelled before shipped. Shipping takes every item's stock "
                   "or none (409 on short stock). Any other change is a 409 naming both states.",
}


class OrderCollectionHandler(CollectionHandler):
    """`GET|POST /orders`: a new order is placed at the application clock's now unless an admin
    back-dates it with `placed_at`."""

    async def post(self) -> None:
        data = self.load_body(self.service.validator)
        async with self.ctx.db.write() as uow:
            payload = await self.service.create_dumped(uow, data, self.principal,
                                                       now=self.ctx.clock.utcnow())
        self.created(payload, self.location(payload["id"]))


class OrderItemHandler(ItemHandler):
    """`GET|PATCH|PUT|DELETE /orders/{id}`: PATCH and PUT take `{"status": …}` only."""

    docs = {
        "PATCH": {"summary": "Change an order's status", **_STATUS_DOC},
        "PUT": {"summary": "Change an order's status (same as PATCH)", **_STATUS_DOC},
        "DELETE": {"summary": "Delete a pending or cancelled order", "tags": ["orders"],
                   "responses": {204: None}, "errors": (409,),
                   "description": "Orders past pending (and not cancelled) are kept: 409."},
    }

    async def _update(self, ident: int, *, partial: bool) -> None:
        data = self.load_body(OrderStatusChangeSchema())
        async with self.ctx.db.write() as uow:
            order = await self.service.update(uow, ident, data, self.principal)
            payload = self.service.dump(order)
        self.send_json(payload)
