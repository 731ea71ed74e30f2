"""Wallet offers: the public list of today's offers, and the admin's CRUD (audited)."""
from __future__ import annotations

from aiohttp import web

from domain.roles import Role
from gateway.audit import actor
from gateway.auth import requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import ADMIN, MONEY, PUBLIC, Reply, doc
from gateway.tx import services
from schemas.common import UUID_RE, page, parse_query, path_uuid
from schemas import examples
from schemas.out import page_of
from schemas.wallet_offers import AdminOfferQuery, OfferCreate, OfferOut, OfferUpdate, offer_out, parse_inr_body
from services import wallet_offers as use_cases

routes = web.RouteTableDef()
OFFER = "/admin/wallet-offers/{offer_id:" + UUID_RE + "}"
# Offers change rarely and are the same for everyone: clients and proxies may keep them 5 minutes.
PUBLIC_CACHE = {"Cache-Control": "public, max-age=300"}


@routes.get("/wallet/offers")
@doc("Wallet offers valid today", tag=MONEY, auth=PUBLIC, responses={200: Reply(
         "A bare list", schema=[OfferOut], headers={"Cache-Control": "public, max-age=300"})})
async def list_offers(request: web.Request) -> web.Response:
    rows = await use_cases.available_today(services(request.app))
    return json_response([offer_out(r) for r in rows], headers=PUBLIC_CACHE)


@routes.post("/admin/wallet-offers")
@doc("Create a wallet offer (INR decimals in)", tag=ADMIN, body=OfferCreate, responses={201: OfferOut},
     description="amount and bonus_amount in INR with at most two decimals; stored and shown in paise (and INR).",
     request_example=examples.OFFER_CREATE)
@requires(Role.ADMIN)
async def create_offer(request: web.Request) -> web.Response:
    body = await parse_inr_body(request, OfferCreate)
    row = await use_cases.create(services(request.app), actor(request), body)
    return json_response(offer_out(row), status=201)


@routes.get("/admin/wallet-offers")
@doc("Wallet offers", tag=ADMIN, query=AdminOfferQuery, responses={200: page_of(OfferOut)})
@requires(Role.ADMIN)
async def admin_list_offers(request: web.Request) -> web.Response:
    query = parse_query(request, AdminOfferQuery)
    rows, total = await use_cases.page(services(request.app), limit=query["limit"], offset=query["offset"],
                                       is_active=query.get("is_active"))
    return json_response(page([offer_out(r) for r in rows], total, query["limit"], query["offset"]))


@routes.get(OFFER)
@doc("A wallet offer", tag=ADMIN, responses={200: OfferOut}, errors=(404,))
@requires(Role.ADMIN)
async def get_offer(request: web.Request) -> web.Response:
    row = await use_cases.get(services(request.app), path_uuid(request, "offer_id"))
    return json_response(offer_out(row))


@routes.patch(OFFER)
@doc("Update a wallet offer", tag=ADMIN, body=OfferUpdate, body_required=False, responses={200: OfferOut},
     errors=(404,))
@requires(Role.ADMIN)
async def update_offer(request: web.Request) -> web.Response:
    body = await parse_inr_body(request, OfferUpdate, optional=True)
    row = await use_cases.update(services(request.app), actor(request), path_uuid(request, "offer_id"), body)
    return json_response(offer_out(row))


@routes.delete(OFFER)
@doc("Delete a wallet offer", tag=ADMIN, responses={204: None}, errors=(404, 409))
@requires(Role.ADMIN)
async def delete_offer(request: web.Request) -> web.Response:
    await use_cases.delete(services(request.app), actor(request), path_uuid(request, "offer_id"))
    return web.Response(status=204)
