"""The route table: one list drives the server, the OpenAPI document and the role-matrix test."""
from __future__ import annotations

from typing import Any

from tornado.web import URLSpec, url

from handlers import (
    auth,
    calls,
    dashboard,
    docs,
    ops,
    pages,
    products,
    shifts,
    station_tokens,
    stops,
    webhooks,
)
from handlers.analytics import analytics_routes
from handlers.imports import RESOURCES as IMPORTABLE
from handlers.imports import ImportHandler, import_docs
from handlers.line_status import LineStatusHandler
from handlers.lines import LineCollectionHandler, LineItemHandler
from handlers.live_feed import LiveFeedHandler
from handlers.losses import loss_routes
from handlers.machines import LineCountsHandler, StopClassifyHandler
from handlers.metrics import MetricsHandler
from handlers.orders import OrderCollectionHandler, OrderItemHandler
from handlers.resources import CollectionHandler, ItemHandler
from schemas.line import CODE_PATTERN
from schemas.openapi import resource_doc
from services.catalog.customers import CustomerService
from services.catalog.employees import EmployeeService
from services.catalog.products import ProductService
from services.floor.calls import CallService
from services.floor.lines import LineService
from services.floor.machines import MachineService
from services.floor.production import ProductionService
from services.floor.shifts import ShiftService
from services.floor.stop_reasons import StopReasonService
from services.floor.work_orders import WorkOrderService
from services.identity.users import UserService
from services.sales.orders import OrderService

ID = r"(?P<ident>[0-9]{1,18})"
# What a station token (an operator's tablet) may use on a route: reads, and writes for its lines.
READ = frozenset({"GET"})
WRITE = frozenset({"POST"})
CODE = rf"(?P<code>{CODE_PATTERN})"


def resource(service: Any, *, read: str, create: str, write: str,
             collection: type = CollectionHandler, item: type = ItemHandler,
             station: frozenset[str] = frozenset()) -> list[URLSpec]:
    """The two routes of a resource: `/things` and `/things/{id}`, with a role per method
    (`station`: the methods of `/things` a station token may use)."""
    path = "/" + service.name.replace("_", "-")
    return [
        url(path, collection,
            {"service": service, "access": {"GET": read, "POST": create}, "station": station},
            name=f"{service.name}"),
        url(rf"{path}/{ID}", item,
            {"service": service, "access": {"GET": read, "PATCH": write, "PUT": write, "DELETE": write}},
            name=f"{service.name}_item"),
    ]


def build_routes() -> list[URLSpec]:
    """Every route; /openapi.json documents this very list."""
    routes: list[URLSpec] = []
    openapi = docs.OpenApiDocument(routes)  # rendered on first use, when the table is complete
    routes += [
        url(r"/healthz", ops.HealthHandler, name="healthz"),
        url(r"/health", ops.HealthHandler, {"docs": ops.alias_docs(ops.HealthHandler, "/healthz")},
            name="health"),  # the old system's path
        url(r"/readyz", ops.ReadyHandler, name="readyz"),
        url(r"/metrics", MetricsHandler, name="metrics"),
        url(r"/openapi.json", docs.OpenApiHandler, {"document": openapi},
            name="openapi"),
        url(r"/swagger.json", docs.OpenApiHandler,
            {"document": openapi, "docs": ops.alias_docs(docs.OpenApiHandler, "/openapi.json")},
            name="swagger"),  # the old system's path
        url(r"/asyncapi.json", docs.AsyncApiHandler, name="asyncapi"),
        url(r"/docs", docs.SwaggerPageHandler, name="docs"),
        url(r"/docs/static/(?P<asset>[A-Za-z0-9._\-]{1,64})", docs.SwaggerAssetHandler, name="docs_asset"),
        url(r"/auth/login", auth.LoginHandler, name="login"),
        url(r"/login", auth.LoginHandler, name="login_alias"),
        url(r"/auth/refresh", auth.RefreshHandler, name="refresh"),
        url(r"/auth/logout", auth.LogoutHandler, name="logout"),
        url(r"/auth/me", auth.MeHandler, {"station": READ}, name="me"),
        url(r"/auth/password", auth.PasswordHandler, name="password"),
        url(r"/auth/display-tokens", auth.DisplayTokenCollectionHandler, name="display_tokens"),
        url(rf"/auth/display-tokens/{ID}", auth.DisplayTokenItemHandler, name="display_token"),
        url(r"/auth/station-tokens", station_tokens.StationTokenCollectionHandler, name="station_tokens"),
        url(rf"/auth/station-tokens/{ID}", station_tokens.StationTokenItemHandler, name="station_token"),
        *resource(UserService(), read="super_admin", create="super_admin", write="super_admin"),
        *resource(EmployeeService(), read="admin", create="admin", write="admin"),
        *resource(CustomerService(), read="user", create="admin", write="admin"),
        *resource(ProductService(), read="user", create="admin", write="admin"),
        url(rf"/products/{ID}/stock-adjustments", products.StockAdjustmentHandler,
            {"access": {"POST": "admin"}}, name="stock_adjustments"),
        url(rf"/products/{ID}/stock-movements", products.StockMovementListHandler,
            {"access": {"GET": "user"}}, name="stock_movements"),
        *resource(OrderService(), read="user", create="user", write="admin",
                   collection=OrderCollectionHandler, item=OrderItemHandler),
        *shop_floor_routes(),  # before /production: a record names a line and a shift
        *resource(ProductionService(), read="user", create="user", write="admin", station=READ | WRITE),
        *analytics_routes(),
        *loss_routes(),
        *resource(webhooks.WEBHOOKS, read="admin", create="admin", write="admin",
                  collection=webhooks.WebhookCollectionHandler, item=webhooks.WebhookItemHandler),
        url(rf"/webhooks/{ID}/deliveries", webhooks.WebhookDeliveryListHandler,
            {"access": {"GET": "admin"}}, name="webhook_deliveries"),
        url(rf"/webhooks/{ID}/test", webhooks.WebhookTestHandler, {"access": {"POST": "admin"}},
            name="webhook_test"),
        *(url(f"/imports/{resource}", ImportHandler, {"resource": resource, "docs": import_docs(resource)},
              name=f"import_{resource}") for resource in IMPORTABLE),
        url(r"/ws", LiveFeedHandler, name="live_feed"),
        url(r"/dashboard", pages.StaticPageHandler, {"page": "dashboard.html", "docs": pages.DASHBOARD_DOCS},
            name="dashboard"),
        url(r"/dashboard/state", dashboard.DashboardStateHandler, name="dashboard_state"),
        url(r"/station", pages.StaticPageHandler, {"page": "station.html", "docs": pages.STATION_DOCS},
            name="station"),
    ]
    return routes


def shop_floor_routes() -> list[URLSpec]:
    """Lines, shifts, stops and the plan: users report, admins plan and correct."""
    lines = LineService()
    return [
        url(r"/shifts/current", shifts.CurrentShiftHandler, {"access": {"GET": "user"}, "station": READ},
            name="shifts_current"),
        *resource(ShiftService(), read="user", create="admin", write="admin", station=READ),
        url(rf"/shifts/{ID}/history", shifts.ShiftHistoryHandler, {"access": {"GET": "user"}},
            name="shift_history"),
        url(r"/lines/status", LineStatusHandler, {"access": {"GET": "user"}, "station": READ},
            name="lines_status"),
        url(r"/lines", LineCollectionHandler, {"service": lines, "access": {"GET": "user", "POST": "admin"}},
            name="lines"),
        url(rf"/lines/{CODE}", LineItemHandler,
            {"service": lines,
             "access": {"GET": "user", "PATCH": "admin", "PUT": "admin", "DELETE": "admin"}},
            name="lines_item"),
        *resource(StopReasonService(), read="user", create="admin", write="admin", station=READ),
        url(rf"/lines/{CODE}/stops", stops.LineStopHandler, {"access": {"POST": "user"}, "station": WRITE},
            name="line_stops"),
        url(rf"/lines/{CODE}/stops/current/end", stops.LineStopEndHandler,
            {"access": {"POST": "user"}, "station": WRITE}, name="line_stop_end"),
        *resource(WorkOrderService(), read="user", create="admin", write="admin", station=READ),
        url(r"/stops", stops.StopListHandler, {"access": {"GET": "user"}, "station": READ}, name="stops"),
        url(rf"/stops/{ID}", stops.StopItemHandler, {"access": {"GET": "user", "PATCH": "admin"}},
            name="stops_item"),
        url(rf"/stops/{ID}/classify", StopClassifyHandler, {"access": {"POST": "user"}, "station": WRITE},
            name="stop_classify"),
        *resource(MachineService(), read="admin", create="admin", write="admin"),
        url(rf"/lines/{CODE}/counts", LineCountsHandler, {"access": {"GET": "user"}}, name="line_counts"),
        *andon_routes(),
    ]


def andon_routes() -> list[URLSpec]:
    """Andon calls: anyone at a line raises, acknowledges and resolves them; admins read the report."""
    docs = CallService()
    return [
        url(rf"/lines/{CODE}/calls", calls.LineCallHandler, {"access": {"POST": "user"}, "station": WRITE},
            name="line_calls"),
        url(r"/calls", calls.CallListHandler,
            {"access": {"GET": "user"}, "station": READ,
             "docs": {"GET": resource_doc(docs, "GET", item=False)}},
            name="calls"),
        url(rf"/calls/{ID}", calls.CallItemHandler,
            {"access": {"GET": "user"}, "docs": {"GET": resource_doc(docs, "GET", item=True)}},
            name="calls_item"),
        *(url(rf"/calls/{ID}/{step}", calls.CallStepHandler,
              {"step": step, "access": {"POST": "user"}, "docs": calls.step_docs(step),
               "station": WRITE if step == "acknowledge" else frozenset()}, name=f"call_{step}")
          for step in ("acknowledge", "resolve")),
        url(r"/analytics/calls", calls.CallReportHandler, name="analytics_calls"),
    ]
