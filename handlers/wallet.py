"""Wallet balance and transactions (the patient's own)."""
from __future__ import annotations

from aiohttp import web

from domain.roles import Role
from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from schemas.common import page, parse_query
from schemas.wallet import TransactionsQuery, transaction_out
from storage import wallet

routes = web.RouteTableDef()


@routes.get("/wallet")
@requires(Role.CLIENT)
async def get_wallet(request: web.Request) -> web.Response:
    async with request.app[keys.DB].connect() as conn:
        balance = await wallet.balance_of(conn, principal(request).id)
    return json_response({"balance": balance, "currency": "INR"})


@routes.get("/wallet/transactions")
@requires(Role.CLIENT)
async def list_transactions(request: web.Request) -> web.Response:
    query = parse_query(request, TransactionsQuery)
    async with request.app[keys.DB].connect() as conn:
        rows, total = await wallet.transactions_page(conn, principal(request).id,
                                                     query["limit"], query["offset"])
    return json_response(page([transaction_out(r) for r in rows], total, query["limit"], query["offset"]))
