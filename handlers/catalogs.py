"""Catalogs: medicines and lab-test typeahead search and details."""
from aiohttp import web

routes = web.RouteTableDef()
