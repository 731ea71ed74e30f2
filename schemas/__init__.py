"""Marshmallow schemas, one module per handler domain; `schemas.common` holds the shared parts."""
