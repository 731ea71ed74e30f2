"""Catalogs: medicines and lab-test typeahead search and details (public reference data)."""
from __future__ import annotations

from aiohttp import web

from domain.errors import NotFound
from gateway import keys
from gateway.jsonutil import json_response
from gateway.openapi_doc import CATALOGS, doc
from schemas import examples
from schemas.catalogs import (
    CatalogSearchQuery, LabTestDetailOut, LabTestItemOut, MedicineDetailOut, MedicineItemOut, lab_test_detail_out,
    medicine_detail_out,
)
from schemas.common import UUID_RE, parse_query, path_uuid
from storage import catalogs

routes = web.RouteTableDef()
_QUERY = CatalogSearchQuery()


@routes.get("/medicines/search")
@doc("Search medicines (typeahead)", tag=CATALOGS, query=CatalogSearchQuery, responses={200: [MedicineItemOut]},
     description="Brand name, generic name or salt; prefix, then contains, then fuzzy matches. A bare list.",
     examples={200: examples.MEDICINES})
async def search_medicines(request: web.Request) -> web.Response:
    query = parse_query(request, _QUERY)
    async with request.app[keys.DB].connect() as conn:
        items = await catalogs.search_medicines(conn, query["q"], query["limit"])
    return json_response(items)


@routes.get("/medicines/{medicine_id:" + UUID_RE + "}")
@doc("A medicine's details", tag=CATALOGS, responses={200: MedicineDetailOut}, errors=(404,))
async def medicine_detail(request: web.Request) -> web.Response:
    async with request.app[keys.DB].connect() as conn:
        row = await catalogs.medicine_detail(conn, path_uuid(request, "medicine_id"))
    if row is None:
        raise NotFound("Medicine not found")
    return json_response(medicine_detail_out(row))


@routes.get("/lab-tests/catalog/search")
@doc("Search lab tests (typeahead)", tag=CATALOGS, query=CatalogSearchQuery, responses={200: [LabTestItemOut]},
     description="Test name, or test code by prefix. A bare list.", examples={200: examples.LAB_TESTS})
async def search_lab_tests(request: web.Request) -> web.Response:
    query = parse_query(request, _QUERY)
    async with request.app[keys.DB].connect() as conn:
        items = await catalogs.search_lab_tests(conn, query["q"], query["limit"])
    return json_response(items)


@routes.get("/lab-tests/catalog/{test_id:" + UUID_RE + "}")
@doc("A lab test's details", tag=CATALOGS, responses={200: LabTestDetailOut}, errors=(404,))
async def lab_test_detail(request: web.Request) -> web.Response:
    async with request.app[keys.DB].connect() as conn:
        row = await catalogs.lab_test_detail(conn, path_uuid(request, "test_id"))
    if row is None:
        raise NotFound("Lab test not found")
    return json_response(lab_test_detail_out(row))
