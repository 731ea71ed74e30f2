"""Session messages and receipts."""
from aiohttp import web

routes = web.RouteTableDef()
