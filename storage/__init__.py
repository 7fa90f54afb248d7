"""The database: engine, SQLModel tables, repository functions and Alembic migrations.

Repository functions take the session as a keyword argument and never commit: the caller's
`async with session.begin()` owns the transaction.
"""
