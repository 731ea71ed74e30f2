"""Prescriptions (and PDF) and lab-test recommendations of a session."""
from aiohttp import web

routes = web.RouteTableDef()
