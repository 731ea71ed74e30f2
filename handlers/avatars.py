"""Avatar uploads for patients and doctors."""
from aiohttp import web

routes = web.RouteTableDef()
