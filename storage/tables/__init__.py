"""All tables, one module per domain. Import tables from here."""
from storage.tables.base import metadata
from storage.tables.accounts import admins, otp_codes, refresh_tokens, users
from storage.tables.doctors import doctors, favourites

__all__ = ["metadata", "admins", "otp_codes", "refresh_tokens", "users", "doctors", "favourites"]
