"""Patient profile."""
from __future__ import annotations

from aiohttp import web

from domain.roles import Role
from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import USERS, doc
from gateway.tx import services
from schemas.common import parse_body
from schemas.users import UserOut, UserUpdateIn, user_out
from services import users as use_cases
from storage import users

routes = web.RouteTableDef()


@routes.get("/users/me")
@doc("The patient's profile (UserOut)", tag=USERS, responses={200: UserOut}, errors=(404,))
@requires(Role.CLIENT)
async def get_me(request: web.Request) -> web.Response:
    async with request.app[keys.DB].connect() as conn:
        user = await users.get_user(conn, principal(request).id)
    if user is None:
        raise use_cases.not_found()
    return json_response(user_out(user))


@routes.patch("/users/me")
@doc("Update the patient's profile", tag=USERS, body=UserUpdateIn, body_required=False,
     responses={200: UserOut}, errors=(404,), description="Send only what changes; null clears a field "
     "(except full_name). BMI is recomputed.", request_example={"age": 28, "sex": "male"})
@requires(Role.CLIENT)
async def update_me(request: web.Request) -> web.Response:
    changes = await parse_body(request, UserUpdateIn, optional=True)
    user = await use_cases.update_profile(services(request.app), principal(request).id, changes)
    return json_response(user_out(user))
