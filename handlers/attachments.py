"""Session attachments and general attachments (two-phase and direct uploads)."""
from aiohttp import web

routes = web.RouteTableDef()
