"""The private servers the failure tests use really stop and start: a stopped server refuses connections,
PostgreSQL keeps its data across a restart, and Redis (which saves nothing) comes back empty."""

import socket

import psycopg
import pytest
import redis

from tests.reliability.servers import PostgresServer, RedisServer, ServerError, port_accepts_connections


def test_redis_answers_on_its_own_port_and_refuses_once_stopped(private_redis: RedisServer):
    assert private_redis.port != 6379
    client = redis.Redis.from_url(private_redis.url, socket_connect_timeout=1)
    assert client.ping()

    private_redis.stop()

    assert not port_accepts_connections(private_redis.port)
    with pytest.raises(redis.ConnectionError):
        client.ping()


def test_redis_comes_back_empty_after_a_restart(private_redis: RedisServer):
    client = redis.Redis.from_url(private_redis.url, socket_connect_timeout=1)
    client.set("greeting", "hello")

    private_redis.restart()

    assert client.ping()  # the same client finds it again: same port
    assert client.get("greeting") is None
    assert client.dbsize() == 0


def test_postgres_refuses_once_stopped(private_postgres: PostgresServer):
    assert private_postgres.port != 5432
    with psycopg.connect(private_postgres.url, connect_timeout=5) as connection:
        assert connection.execute("select 1").fetchone() == (1,)

    private_postgres.stop()

    assert not port_accepts_connections(private_postgres.port)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(private_postgres.url, connect_timeout=5)


def test_postgres_keeps_its_data_across_a_restart(private_postgres: PostgresServer):
    with psycopg.connect(private_postgres.url, connect_timeout=5, autocommit=True) as connection:
        connection.execute("create table survivor (name text)")
        connection.execute("insert into survivor values ('still here')")

    private_postgres.restart()

    with psycopg.connect(private_postgres.url, connect_timeout=5) as connection:
        assert connection.execute("select name from survivor").fetchall() == [("still here",)]


def test_a_restart_drops_the_connections_open_before_it(private_postgres: PostgresServer):
    """What the web app's persistent connections go through: the old connection is dead after a restart."""
    connection = psycopg.connect(private_postgres.url, connect_timeout=5, autocommit=True)
    try:
        private_postgres.restart()
        with pytest.raises(psycopg.OperationalError):
            connection.execute("select 1")
    finally:
        connection.close()


def test_closing_stops_the_server_and_deletes_its_files():
    with PostgresServer() as postgres, RedisServer() as redis_server:
        folders = [postgres.dir, redis_server.dir]
        ports = [postgres.port, redis_server.port]
        assert all(port_accepts_connections(port) for port in ports)

    assert not any(port_accepts_connections(port) for port in ports)
    assert not any(folder.exists() for folder in folders)


def test_a_server_that_cannot_start_says_why():
    server = RedisServer()
    try:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", server.port))
            squatter.listen()
            with pytest.raises(ServerError, match=r"(?s)redis-server exited.*Address already in use"):
                server.start()
    finally:
        server.close()
