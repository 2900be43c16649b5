"""`POST /imports/{resource}`: many rows at once, as CSV or a JSON array, all or nothing (admin)."""
from __future__ import annotations

import asyncio
from typing import Any

from core.errors import ApiError
from core.jsonin import JsonInputError, parse_json
from handlers.base import BaseHandler
from schemas.imports import ImportQuery
from schemas.openapi import EXAMPLES
from services.exchange.import_jobs import import_rows, read_csv_body
from services.exchange.imports import SERVICES, Importer

IMPORT_MAX_BYTES = 10 * 1024 * 1024
RESOURCES = tuple(SERVICES)
# The create examples with other unique values, so /docs can try a create and an import on one database.
UNIQUE_CHANGES: dict[str, dict[str, str]] = {
    "products": {"sku": "GEAR-20", "name": "Gear 20T"},
    "customers": {"email": "orders@bolt.example", "phone": "+4930123457"},
    "employees": {"email": "sam@factory.example", "phone": "+4940123457"},
}


def import_docs(resource: str) -> dict[str, Any]:
    service = SERVICES[resource]
    name = service.schema.__name__.removesuffix("Schema")
    item = {"$ref": f"#/components/schemas/{name}"}
    example = [{**EXAMPLES[name], **UNIQUE_CHANGES.get(resource, {})}]
    result = {"type": "object", "properties": {
        "resource": {"type": "string"}, "rows": {"type": "integer"}, "imported": {"type": "integer"},
        "dry_run": {"type": "boolean"}, "restore": {"type": "boolean"},
        "first_id": {"type": "integer"}, "last_id": {"type": "integer"}}}
    return {"POST": {
        "summary": f"Import {resource}", "tags": ["imports"], "query": ImportQuery, "errors": (413, 415),
        "description": (
            "A CSV file (`Content-Type: text/csv`, a header row of the API's field names; orders "
            "as `customer_id,product_id,quantity`, one order per row) or a JSON array of the objects "
            "`POST` takes, up to 10 MiB. Every row is validated first with the same rules as `POST`; "
            "then all are written in one transaction, or none. A 422 lists the problems as "
            "`errors: [{row, field, message}]` (the first 100; rows count from 1 after the header). "
            "Stock moves through the ledger; one summary event per import goes to the live feed."),
        "body": {"required": True, "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "array", "items": item}, "example": example}}},
        "responses": {200: result},
    }}


class ImportHandler(BaseHandler):
    """One resource's import; the route table names it."""

    access = {"POST": "admin"}
    idempotent = frozenset({"POST"})  # a retried upload imports its rows once
    max_body_bytes = IMPORT_MAX_BYTES  # app.find_handler refuses a larger declared body up front

    def initialize(self, resource: str, **kwargs: Any) -> None:
        super().initialize(**kwargs)
        self.resource = resource

    def parse_body(self) -> bytes:
        raw = self.request.body
        if len(raw) > self.max_body_bytes:
            raise ApiError(413, f"The body is over {self.max_body_bytes} bytes.")
        if not raw:
            raise ApiError(400, "Send the rows as text/csv or a JSON array.")
        return raw

    async def post(self) -> None:
        params = self.load_query(ImportQuery())
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type not in ("text/csv", "application/json"):
            raise ApiError(415, "Send the rows as text/csv or application/json.")
        importer = Importer(self.resource, restore=params["restore"], clock=self.ctx.clock)
        # A refusal (ImportRejected, an Invalid) is the usual 422, its errors a list of {row, field, message}.
        if content_type == "text/csv":
            rows = read_csv_body(importer, self.body)
        else:
            try:  # the bounds every JSON body has (depth, number length, surrogates): 400 past them
                # Parsed off the event loop: 10 MiB of JSON would hold every other request still.
                parsed = await asyncio.get_running_loop().run_in_executor(None, parse_json, self.body)
                rows = importer.read_json(parsed)
            except JsonInputError as exc:
                raise ApiError(400, f"The body is {exc}.") from None
        result = await import_rows(self.ctx.db, importer, rows, dry_run=params["dry_run"],
                                   actor=self.principal)
        self.send_json(result)
