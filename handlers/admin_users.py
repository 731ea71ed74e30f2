"""The admin console's accounts: patients and doctors (list, detail, edit, status)."""
from __future__ import annotations

from aiohttp import web

from domain.errors import ValidationFailed
from domain.roles import Role
from gateway.audit import actor
from gateway.auth import requires, sync
from gateway.jsonutil import json_response
from gateway.openapi_doc import ADMIN, AnyOf, Body, doc
from gateway.tx import services
from schemas import admin_users as schemas
from schemas.common import UUID_RE, load, page, parse_body, parse_query, path_uuid, read_json
from schemas.out import page_of
from services import admin_users as use_cases

routes = web.RouteTableDef()
ACCOUNT = "/admin/users/{user_id:" + UUID_RE + "}"
ACCOUNT_OUT = AnyOf(schemas.PatientAccountOut, schemas.DoctorAccountOut)


@routes.get("/admin/users")
@doc("Patients and doctors", tag=ADMIN, query=schemas.AdminUsersQuery, responses={200: page_of(schemas.AccountItemOut)})
@requires(Role.ADMIN)
async def list_users(request: web.Request) -> web.Response:
    query = parse_query(request, schemas.AdminUsersQuery)
    rows, total = await use_cases.accounts_page(services(request.app), actor(request), role=query.get("role"),
                                                is_active=query.get("is_active"), q=query.get("q"),
                                                limit=query["limit"], offset=query["offset"])
    return json_response(page([schemas.account_item(r) for r in rows], total, query["limit"], query["offset"]))


@routes.get(ACCOUNT)
@doc("An account (audited read)", tag=ADMIN, responses={200: ACCOUNT_OUT}, errors=(404,))
@requires(Role.ADMIN)
async def get_user(request: web.Request) -> web.Response:
    role, row = await use_cases.account(services(request.app), actor(request), path_uuid(request, "user_id"))
    return json_response(schemas.account_out(role, row))


@routes.patch(ACCOUNT)
@doc("Edit an account", tag=ADMIN, body=Body("application/json", {"anyOf": [
         {"$ref": "#/components/schemas/UserUpdateIn"}, {"$ref": "#/components/schemas/ProfileUpdate"}]},
         "A patient takes the fields of PATCH /users/me, a doctor those of PATCH /doctors/me/profile"),
     body_required=False, responses={200: ACCOUNT_OUT}, errors=(404, 415),
     request_example={"full_name": "Updated Name", "age": 30})
@requires(Role.ADMIN)
async def update_user(request: web.Request) -> web.Response:
    """The body is checked against the rules of the account's own PATCH, so its role comes first."""
    data = await read_json(request, optional=True)
    if not isinstance(data, dict):
        raise ValidationFailed([{"loc": ["body"], "msg": "Input should be a valid object",
                                 "type": "model_attributes_type"}])
    ctx, user_id = services(request.app), path_uuid(request, "user_id")
    role = await use_cases.role_of(ctx, user_id)
    changes = schemas.clean_update(role, load(schemas.update_schema(role), data, "body"))
    row = await use_cases.update(ctx, actor(request), user_id, role, changes)
    return json_response(schemas.account_out(role, row))


@routes.patch(ACCOUNT + "/status")
@doc("Activate or deactivate an account", tag=ADMIN, body=schemas.StatusBody, responses={200: ACCOUNT_OUT}, errors=(404,),
     description="Deactivation revokes the account's tokens at once.", request_example={"is_active": False})
@requires(Role.ADMIN)
async def set_status(request: web.Request) -> web.Response:
    body = await parse_body(request, schemas.StatusBody)
    role, row = await use_cases.set_active(services(request.app), actor(request), path_uuid(request, "user_id"),
                                           body["is_active"])
    await sync(request.app)  # in force in this process before the answer; elsewhere within the view's bound
    return json_response(schemas.account_out(role, row))
