"""The patient's money analytics: their payment orders and their recharges (credits with bonus)."""
from __future__ import annotations

from aiohttp import web

from domain.roles import Role
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import MONEY, doc
from gateway.tx import services
from schemas.common import page, parse_query
from schemas.out import page_of
from schemas.payments import OrderOut, OrdersQuery, RechargeOut, RechargesQuery, order_out, recharge_out
from services import payments as use_cases

routes = web.RouteTableDef()


@routes.get("/analytics/user/orders")
@doc("The patient's top-up orders", tag=MONEY, query=OrdersQuery, responses={200: page_of(OrderOut)})
@requires(Role.CLIENT)
async def user_orders(request: web.Request) -> web.Response:
    query = parse_query(request, OrdersQuery)
    rows, total = await use_cases.orders_page(services(request.app), principal(request).id,
                                              query["limit"], query["offset"])
    return json_response(page([order_out(r) for r in rows], total, query["limit"], query["offset"]))


@routes.get("/analytics/user/recharges")
@doc("The patient's recharges (credits with their bonus)", tag=MONEY, query=RechargesQuery,
     responses={200: page_of(RechargeOut)})
@requires(Role.CLIENT)
async def user_recharges(request: web.Request) -> web.Response:
    query = parse_query(request, RechargesQuery)
    rows, total = await use_cases.recharges_page(services(request.app), principal(request).id,
                                                 query["limit"], query["offset"])
    return json_response(page([recharge_out(r) for r in rows], total, query["limit"], query["offset"]))
