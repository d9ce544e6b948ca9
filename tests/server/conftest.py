"""Fixtures of the server tests: one real store and one real ``whylens serve`` per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .support import Server, Store, build_store


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return build_store(tmp_path_factory.mktemp("server-store"))


@pytest.fixture(scope="session")
def server(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(store, tmp_path_factory.mktemp("server-run"))
    yield running
    running.stop()


def client(server: Server, store: Store, role: str):  # type: ignore[no-untyped-def]
    return server.client(token=store.tokens[role])
