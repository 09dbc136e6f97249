"""Fixtures for the reliability tests: private Redis and PostgreSQL servers (see servers.py)."""

from tests.reliability.servers import private_postgres, private_redis

__all__ = ["private_postgres", "private_redis"]
