"""Doctor discovery (public, optional auth), favourites, admin create/update."""
from __future__ import annotations

import uuid

from aiohttp import web

from domain.errors import Forbidden, NotFound, Unauthorized
from domain.roles import Role
from gateway import keys
from gateway.audit import actor
from gateway.auth import maybe_principal, optional_auth, principal, requires, sync
from gateway.jsonutil import json_response
from gateway.openapi_doc import DASHBOARD, DISCOVERY, AnyOf, doc
from gateway.tx import services
from schemas import doctors as schemas
from schemas import doctors_out as out
from schemas import examples
from schemas.common import UUID_RE, page, parse_body, parse_query, path_uuid
from schemas.out import page_of
from services import doctors as use_cases
from storage import doctor_search, reviews
from storage import doctors as store

routes = web.RouteTableDef()
DOCTOR = "/doctors/{doctor_id:" + UUID_RE + "}"


def _client_id(request: web.Request) -> uuid.UUID | None:
    """The caller's id when a client token was sent (fills `is_favourite`), else None."""
    who = maybe_principal(request)
    return who.id if who is not None and who.role == Role.CLIENT else None


def _require_client_for_favourites(request: web.Request) -> uuid.UUID:
    who = maybe_principal(request)
    if who is None:
        raise Unauthorized("favourites_first and favourites_only need a patient token")
    if who.role != "client":
        raise Forbidden("Favourites belong to patients", code="WRONG_ROLE")
    return who.id


def _not_found() -> NotFound:
    return use_cases.not_found()


@routes.get("/doctors/search")
@doc("Search doctors (fuzzy: name, speciality, slug)", tag=DISCOVERY, query=schemas.SearchQuery,
     responses={200: [out.DoctorOut]}, description="A bare list, best match first.",
     examples={200: [examples.DOCTOR]})
@optional_auth
async def search_doctors(request: web.Request) -> web.Response:
    query = parse_query(request, schemas.SearchQuery)
    async with request.app[keys.DB].connect() as conn:
        rows = await doctor_search.search_doctors(conn, query["q"], limit=query["limit"],
                                                  offset=query["offset"], user_id=_client_id(request))
    return json_response([schemas.doctor_out(r, r["is_favourite"]) for r in rows])


@routes.get("/doctors/")
@routes.get("/doctors")
@doc("List doctors", tag=DISCOVERY, query=schemas.ListQuery, responses={200: [out.DoctorOut]}, errors=(403,),
     description="A bare list. `favourites_first` / `favourites_only` need a patient token (401 without, 403 for "
     "another role).")
@optional_auth
async def list_doctors(request: web.Request) -> web.Response:
    query = parse_query(request, schemas.ListQuery)
    user_id = _client_id(request)
    if query["favourites_first"] or query["favourites_only"]:
        user_id = _require_client_for_favourites(request)
    async with request.app[keys.DB].connect() as conn:
        rows = await store.list_doctors(conn, skip=query["skip"], limit=query["limit"], user_id=user_id,
                                        favourites_first=query["favourites_first"],
                                        favourites_only=query["favourites_only"])
    return json_response([schemas.doctor_out(r, r["is_favourite"]) for r in rows])


@routes.get("/doctors/all_doctors_list")
@doc("List doctors with filters and sorting", tag=DISCOVERY, query=schemas.AllDoctorsQuery,
     responses={200: [out.DoctorOut]}, description="`available_for=chat|call` uses the doctor's chat/call switches.")
@optional_auth
async def all_doctors_list(request: web.Request) -> web.Response:
    query = parse_query(request, schemas.AllDoctorsQuery)
    async with request.app[keys.DB].connect() as conn:
        rows = await store.all_doctors(
            conn, user_id=_client_id(request), status=query.get("status"), category=query.get("category"),
            available_for=query.get("available_for"), featured_only=query["featured_only"],
            sort_by=query.get("sort_by"), sort_order=query["sort_order"], skip=query["skip"],
            limit=query["limit"])
    return json_response([schemas.doctor_out(r, r["is_favourite"]) for r in rows])


@routes.get("/doctors/slug/{slug}")
@doc("A doctor by slug (DoctorDetailOut)", tag=DISCOVERY, responses={200: out.DoctorDetailOut}, errors=(404,),
     examples={200: examples.DOCTOR_DETAIL})
@optional_auth
async def doctor_by_slug(request: web.Request) -> web.Response:
    slug = request.match_info["slug"]
    if len(slug) > 200:
        raise _not_found()
    async with request.app[keys.DB].connect() as conn:
        row = await store.get_doctor_by_slug(conn, slug, user_id=_client_id(request))
    if row is None:
        raise _not_found()
    return json_response(schemas.doctor_detail_out(row, row["is_favourite"]))


@routes.get(DOCTOR)
@doc("A doctor by id (DoctorDetailOut)", tag=DISCOVERY,
     responses={200: AnyOf(out.DoctorDetailOut, out.DoctorAdminOut)}, errors=(404,),
     description="An admin token also sees deactivated doctors, with the admin fields (DoctorAdminOut).")
@optional_auth
async def doctor_detail(request: web.Request) -> web.Response:
    """DoctorDetailOut; an admin token also sees deactivated doctors, with the admin fields."""
    who = maybe_principal(request)
    is_admin = who is not None and who.role == Role.ADMIN
    async with request.app[keys.DB].connect() as conn:
        row = await store.get_doctor(conn, path_uuid(request, "doctor_id"), user_id=_client_id(request),
                                     include_inactive=is_admin)
    if row is None:
        raise _not_found()
    if is_admin:
        return json_response(schemas.doctor_admin_out(row))
    return json_response(schemas.doctor_detail_out(row, row["is_favourite"]))


@routes.get(DOCTOR + "/reviews")
@doc("A doctor's reviews, newest first", tag=DISCOVERY, query=schemas.ReviewsQuery,
     responses={200: page_of(out.ReviewListItemOut)}, errors=(404,), examples={200: examples.REVIEW_PAGE})
@optional_auth
async def doctor_reviews(request: web.Request) -> web.Response:
    query = parse_query(request, schemas.ReviewsQuery)
    doctor_id = path_uuid(request, "doctor_id")
    async with request.app[keys.DB].connect() as conn:
        if not await store.doctor_exists(conn, doctor_id):
            raise _not_found()
        items, total = await reviews.doctor_reviews_page(conn, doctor_id, query["limit"], query["offset"])
    return json_response(page([schemas.review_item(r) for r in items], total, query["limit"], query["offset"]))


# --- favourites (patients) ----------------------------------------------------------------

@routes.get("/doctors/favourites")
@doc("The patient's favourite doctors", tag=DASHBOARD, query=schemas.FavouritesQuery,
     responses={200: page_of(out.DoctorOut)})
@requires(Role.CLIENT)
async def my_favourites(request: web.Request) -> web.Response:
    query = parse_query(request, schemas.FavouritesQuery)
    async with request.app[keys.DB].connect() as conn:
        rows, total = await store.favourites_page(conn, principal(request).id, query["skip"], query["limit"])
    return json_response(page([schemas.doctor_out(r, True) for r in rows], total, query["limit"], query["skip"]))


@routes.post(DOCTOR + "/favourite")
@doc("Add or remove a favourite doctor (idempotent)", tag=DASHBOARD, body=schemas.FavouriteAction,
     responses={200: out.FavouriteOut}, errors=(404,), request_example={"action": "add"})
@requires(Role.CLIENT)
async def set_favourite(request: web.Request) -> web.Response:
    body = await parse_body(request, schemas.FavouriteAction)
    doctor_id, add = path_uuid(request, "doctor_id"), body["action"] == "add"
    await use_cases.set_favourite(services(request.app), principal(request).id, doctor_id, add=add)
    return json_response({"doctor_id": doctor_id, "is_favourite": add})


# --- admin --------------------------------------------------------------------------------

@routes.post("/doctors/")
@routes.post("/doctors")
@doc("Create a doctor (DoctorCreate)", tag=DISCOVERY, body=schemas.DoctorCreate, responses={201: out.DoctorAdminOut},
     errors=(409,), description="The slug is generated, unique.")
@requires(Role.ADMIN)
async def create_doctor(request: web.Request) -> web.Response:
    body = schemas.clean_profile(await parse_body(request, schemas.DoctorCreate))
    row = await use_cases.create(services(request.app), actor(request), body)
    return json_response(schemas.doctor_admin_out(row), status=201)


@routes.patch(DOCTOR)
@doc("Update a doctor (DoctorUpdate)", tag=DISCOVERY, body=schemas.DoctorUpdate, responses={200: out.DoctorAdminOut},
     errors=(404, 409), description="Deactivating a doctor (is_active=false) or changing the password revokes "
     "their tokens at once.")
@requires(Role.ADMIN)
async def update_doctor(request: web.Request) -> web.Response:
    body = schemas.clean_profile(await parse_body(request, schemas.DoctorUpdate))
    row = await use_cases.admin_update(services(request.app), actor(request), path_uuid(request, "doctor_id"), body)
    if "password" in body or "is_active" in body:
        await sync(request.app)  # in force here before the answer (a deactivation is logged by a trigger)
    return json_response(schemas.doctor_admin_out(row))
