"""SQLAlchemy tables, queries per domain, Alembic migrations, blob storage."""
