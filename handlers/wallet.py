"""Wallet balance and transactions (the patient's own)."""
from __future__ import annotations

from aiohttp import web

from domain.roles import Role
from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import MONEY, doc
from schemas.common import page, parse_query
from schemas.out import page_of
from schemas.wallet import TransactionOut, TransactionsQuery, WalletOut, transaction_out
from storage import wallet

routes = web.RouteTableDef()


@routes.get("/wallet")
@doc("The patient's wallet balance", tag=MONEY, responses={200: WalletOut},
     examples={200: {"balance": 15000, "currency": "INR"}})
@requires(Role.CLIENT)
async def get_wallet(request: web.Request) -> web.Response:
    async with request.app[keys.DB].connect() as conn:
        balance = await wallet.balance_of(conn, principal(request).id)
    return json_response({"balance": balance, "currency": "INR"})


@routes.get("/wallet/transactions")
@doc("The patient's wallet transactions, newest first", tag=MONEY, query=TransactionsQuery,
     responses={200: page_of(TransactionOut)}, description="Credits (recharges, bonuses, refunds) and debits "
     "(sessions), in paise.")
@requires(Role.CLIENT)
async def list_transactions(request: web.Request) -> web.Response:
    query = parse_query(request, TransactionsQuery)
    async with request.app[keys.DB].connect() as conn:
        rows, total = await wallet.transactions_page(conn, principal(request).id,
                                                     query["limit"], query["offset"])
    return json_response(page([transaction_out(r) for r in rows], total, query["limit"], query["offset"]))
