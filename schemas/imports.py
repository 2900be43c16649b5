"""The query of an import (`POST /imports/{resource}`)."""
from marshmallow import RAISE, Schema, fields


class ImportQuery(Schema):
    class Meta:
        unknown = RAISE

    dry_run = fields.Boolean(load_default=False, metadata={
        "description": "Validate every row and answer as an import would, but write nothing."})
    restore = fields.Boolean(load_default=False, metadata={
        "description": "Rows as an export wrote them: keep their ids, timestamps and (orders) status and "
                       "prices; history moves no stock. Without it, `id`, timestamps and computed "
                       "columns are refused."})
