"""Doctor discovery (public, optional auth), favourites, admin create/update."""
from aiohttp import web

routes = web.RouteTableDef()
