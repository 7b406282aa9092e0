"""Grids of independent work as tasks on a Ray cluster: ``compare``'s worlds, and the
fidelity suite's subjects (``map_tasks``).

Ray is an optional extra (``pip install 'recworld[ray]'``) and is imported here only, when
a grid is given ``--ray ADDRESS``; the one-process and ``--jobs`` paths never import it.

Each run is one task. The task writes the run directory on the node that runs it, in a
temporary folder, and returns it packed (a tar in memory) through Ray's object store; the
driver unpacks it into ``OUT/<recommender>/seed-<s>/``. No shared filesystem is needed
for the logs, and a run's files are those of the same run in one process: every run is
seeded on its own. Each node needs recworld installed and the scenario's dataset at the
same path.
"""

from __future__ import annotations

import io
import socket
import tarfile
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from simulator.config import RunConfig
from simulator.errors import RecworldError, first_line
from simulator.runlog import RunLog

Key = TypeVar("Key")
Simulate = Callable[..., int]
"""``simulate(config, run_dir) -> catalogue size``, as ``simulator.compose.compare``'s."""


def ray_module() -> Any:
    """Ray, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RecworldError(
            "--ray needs Ray: pip install 'recworld[ray]' on the driver and on every node"
        ) from None
    return ray


_joined: list[str] = []
"""The address this process is connected to, once joined (a one-element list)."""


def connect(address: str) -> Any:
    """Join the cluster at ``address`` (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``);
    a process joined to another cluster leaves it first."""
    ray = ray_module()
    if ray.is_initialized():
        if _joined == [address]:
            return ray
        ray.shutdown()
    _joined.clear()
    _reachable(address)
    try:
        ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RecworldError(
            f"--ray {address}: cannot join the cluster ({first_line(exc)}); start one with "
            "`ray start --head` and pass the address it prints"
        ) from None
    _joined.append(address)
    return ray


def _reachable(address: str, timeout: float = 5.0) -> None:
    """A plain ``HOST:PORT`` must answer a TCP connection (Ray itself retries for minutes)."""
    host, _, port = address.rpartition(":")
    if address == "auto" or "://" in address or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RecworldError(
            f"--ray {address}: cannot join the cluster ({exc.strerror or exc}); start one "
            "with `ray start --head` and pass the address it prints"
        ) from None


def simulate_all(
    address: str,
    simulate: Simulate,
    worlds: Mapping[Key, tuple[RunConfig, Path]],
    *,
    overwrite: bool,
    done: Callable[[Key], None] | None = None,
    nodes: dict[Key, str] | None = None,
) -> dict[Key, int]:
    """Run every world as a Ray task and write each run directory on this machine.

    Args:
        address: The cluster's address.
        simulate: Runs one world into a folder and returns the catalogue size.
        worlds: Each run's config and the folder it belongs in, by key.
        overwrite: Replace runs already in those folders.
        done: Called with each key as its run lands, in the order runs finish.
        nodes: Filled with the id of the Ray node that ran each run, when given.

    Returns:
        The catalogue size of each run, by key.
    """
    ray = connect(address)
    task = ray.remote(num_cpus=1)(_run_packed)
    futures = {task.remote(simulate, config): key for key, (config, _) in worlds.items()}
    sizes: dict[Key, int] = {}
    pending = list(futures)
    try:
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            for ref in finished:
                key = futures[ref]
                size, packed, node = ray.get(ref)
                run_dir = worlds[key][1]
                RunLog.claim(run_dir, overwrite=overwrite)
                unpack(packed, run_dir)
                sizes[key] = size
                if nodes is not None:
                    nodes[key] = node
                if done is not None:
                    done(key)
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    return sizes


def map_tasks(address: str, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
    """``[fn(*call) for call in calls]``, each call a Ray task (one CPU) at ``address``;
    results in the order of ``calls``. ``fn`` must be importable on every node."""
    ray = connect(address)
    task = ray.remote(num_cpus=1)(fn)
    refs = [task.remote(*call) for call in calls]
    try:
        return ray.get(refs)
    except BaseException:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise


def _run_packed(simulate: Simulate, config: RunConfig) -> tuple[int, bytes, str]:
    """In a task: the run in a temporary folder, returned as a tar in memory, with the
    node it ran on."""
    node = ray_module().get_runtime_context().get_node_id()
    with tempfile.TemporaryDirectory(prefix="recworld-") as tmp:
        run_dir = Path(tmp) / "run"
        size = simulate(config, run_dir)
        return size, pack(run_dir), node


def pack(folder: Path) -> bytes:
    """Every file under ``folder`` (the run's lock file left out), as an uncompressed tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != RunLog.LOCK:
                tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    return buffer.getvalue()


def unpack(packed: bytes, folder: Path) -> None:
    """``pack``'s files into ``folder``; only plain files and folders, only inside it."""
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r") as tar:
        tar.extractall(folder, filter="data")
