"""Auth: OTP, doctor and admin login, refresh, logout."""
from aiohttp import web

routes = web.RouteTableDef()
