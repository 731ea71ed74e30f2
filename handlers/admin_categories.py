"""Admin CRUD of health categories."""
from aiohttp import web

routes = web.RouteTableDef()
