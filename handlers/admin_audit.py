"""The admin audit log: who did what to which record, newest first (read-only: the table is
append-only)."""
from __future__ import annotations

from aiohttp import web

from domain.roles import Role
from gateway.auth import requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import ADMIN, doc
from gateway.tx import services
from schemas.audit import AuditLogQuery, AuditRowOut, audit_row_out
from schemas.out import page_of
from schemas.common import page, parse_query
from services import audit as use_cases

routes = web.RouteTableDef()


@routes.get("/admin/audit-log")
@doc("The admin audit log, newest first", tag=ADMIN, query=AuditLogQuery, responses={200: page_of(AuditRowOut)},
     description="Every admin write and every admin read of a patient's data. `date_from` inclusive, `date_to` exclusive.")
@requires(Role.ADMIN)
async def audit_log(request: web.Request) -> web.Response:
    query = parse_query(request, AuditLogQuery)
    rows, total = await use_cases.page(services(request.app), actor_id=query.get("actor_id"),
                                       target_type=query.get("target_type"), target_id=query.get("target_id"),
                                       action=query.get("action"), date_from=query.get("date_from"),
                                       date_to=query.get("date_to"), limit=query["limit"], offset=query["offset"])
    return json_response(page([audit_row_out(r) for r in rows], total, query["limit"], query["offset"]))
