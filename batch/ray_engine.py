"""``--engine ray``: the same items on Ray Data, on this machine or a cluster (the ``ray`` extra).

The item list becomes a dataset of small blocks (``index``, ``path``, ``name``, ``prompts`` as JSON);
``map_batches`` runs it through a fixed pool of :class:`PredictorActor` (a class-based UDF: each actor
loads the predictor once, with ``num_cpus`` = its threads) which write the outputs themselves, on
storage every node sees, and return only status rows; the driver streams those into the results
manifest. Ray Data restarts a lost actor and retries its batch, so a killed worker costs time only.

Ray is started here (``ray.init(num_cpus=..., include_dashboard=False)``, shut down at the end) unless
``address`` names a running cluster to join, or this process already has Ray initialised (a library
caller's: then it is used and left running). The job probes an address first (``probe_address``, a TCP
connection of ``CONNECT_TIMEOUT`` seconds), so a wrong one fails in one line instead of Ray's long retries.
"""

from __future__ import annotations

import json
import logging
import math
import re
import socket
from typing import Callable

from sam_edge.batch.item_worker import ItemWorker, TaskSpec
from sam_edge.batch.items import BatchItem
from sam_edge.batch.results import MissingPackageError, one_line, results_schema
from sam_edge.runtime.errors import SamEdgeError

CONNECT_TIMEOUT = 5.0
DEFAULT_PORTS = {"ray://": 10001, "": 6379}  # Ray Client's port, the GCS port of `ray start --head`
MAX_BLOCK_ROWS = 64  # small blocks spread the work evenly and bound what a lost actor had queued


class RayConnectionError(SamEdgeError, ConnectionError):
    """The Ray cluster named by --ray-address does not answer or refuses this driver."""


def require_ray():
    """The ``ray`` module with Ray Data, or a one-line error naming the extra."""
    try:
        import ray
        import ray.data  # noqa: F401 - the engine needs the data library, not only ray core
    except ImportError:
        raise MissingPackageError(
            'the ray engine needs Ray Data, which is not installed: pip install "sam-edge[ray]"'
        ) from None
    return ray


def probe_address(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise RayConnectionError unless ``host:port`` (or ``ray://host:port``) accepts a TCP connection."""
    if address == "auto":
        return
    scheme = "ray://" if address.startswith("ray://") else ""
    host, _, port = address[len(scheme) :].rpartition(":")
    if not host or not port.isdigit():
        host, port = address[len(scheme) :], str(DEFAULT_PORTS[scheme])
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        reason = "no answer" if isinstance(error, socket.timeout) else (error.strerror or type(error).__name__)
        raise RayConnectionError(
            f"Ray address {address} does not answer ({reason}, within {timeout:g} s); give the address of a "
            "running Ray head (ray start --head prints it) or leave --ray-address out to start Ray here"
        ) from None


class RaySession:
    """Ray for one job: joined, started or reused (module docstring); ``close`` shuts down only what it started."""

    def __init__(self, address: str | None, cpus: int) -> None:
        self.ray = require_ray()
        self.started = False
        if self.ray.is_initialized():
            return
        quiet = dict(logging_level=logging.ERROR, log_to_driver=False)
        try:
            if address:
                self.ray.init(address=address, **quiet)
            else:
                # address="local": a new instance here, never one that `ray start` left running
                self.ray.init(address="local", num_cpus=cpus, include_dashboard=False, **quiet)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as error:
            reason = one_line(str(error), 200)
            if not address:
                raise RayConnectionError(f"cannot start Ray here ({reason})") from None
            raise RayConnectionError(
                f"cannot join the Ray cluster at {address} ({reason}); a cluster with token authentication "
                "needs RAY_AUTH_MODE=token and its token (~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN) "
                "in this driver's environment"
            ) from None
        self.started = True
        _quiet_ray_data(self.ray)

    def cpus(self) -> int:
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def _quiet_ray_data(ray) -> None:
    """Ray Data's own progress bars and execution logs would interleave with sam-edge's progress line."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    logging.getLogger("ray").setLevel(logging.ERROR)
    # its failure report repeats the remote traceback; run_ray turns the error into one line
    logging.getLogger("ray.data").setLevel(logging.CRITICAL)


class PredictorActor:
    """Ray Data's class-based UDF: one ItemWorker per actor; a batch of items in, their status rows out."""

    def __init__(self, spec: TaskSpec) -> None:
        self.worker = ItemWorker(spec)

    def __call__(self, batch):
        import pyarrow as pa

        rows = []
        for record in batch.to_pylist():
            prompts = json.loads(record["prompts"]) if record["prompts"] else None
            rows.append(self.worker.process(BatchItem(record["index"], record["path"], record["name"], prompts)))
        return pa.Table.from_pylist(rows, schema=_row_schema())


def _row_schema():
    import pyarrow as pa

    return results_schema().insert(0, pa.field("index", pa.int64()))


def item_blocks(items: list[BatchItem], workers: int) -> list:
    """The items as pyarrow tables of at most MAX_BLOCK_ROWS rows, about four blocks per worker or more."""
    import pyarrow as pa

    rows = max(1, min(MAX_BLOCK_ROWS, math.ceil(len(items) / (4 * max(workers, 1)))))
    schema = pa.schema([("index", pa.int64()), ("path", pa.string()), ("name", pa.string()), ("prompts", pa.string())])
    blocks = []
    for start in range(0, len(items), rows):
        chunk = items[start : start + rows]
        columns = {
            "index": [item.index for item in chunk],
            "path": [item.path for item in chunk],
            "name": [item.name for item in chunk],
            "prompts": [None if item.prompts is None else json.dumps(item.prompts) for item in chunk],
        }
        blocks.append(pa.table(columns, schema=schema))
    return blocks


def run_ray(
    spec: TaskSpec, items: list[BatchItem], session: RaySession, workers: int, on_row: Callable[[dict], None]
) -> None:
    """Process ``items`` on ``workers`` actors of ``spec.threads`` CPUs each; ``on_row(row)`` per item done."""
    ray = session.ray
    dataset = ray.data.from_arrow(item_blocks(items, workers))
    results = dataset.map_batches(
        PredictorActor,
        fn_constructor_args=(spec,),
        batch_size=1,  # one image per call: each output is written and reported as soon as it is done
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=spec.threads,
    )
    try:
        for batch in results.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0):
            for row in batch.to_pylist():
                on_row(row)
    except ray.exceptions.RayError as error:  # an actor that cannot start (model, install) fails the execution
        raise RayActorStartError(f"a Ray actor could not start: {_last_line(error)}") from None


class RayActorStartError(SamEdgeError, RuntimeError):
    """The predictor actors could not be created (the model or sam-edge missing on a node)."""


def _last_line(error: BaseException) -> str:
    """The remote error inside a Ray error: Ray's messages carry the remote traceback, whose last
    ``SomeError: message`` line says what went wrong (module prefix dropped)."""
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    for link in chain:
        found = [line.strip() for line in str(link).splitlines() if _REMOTE_ERROR.match(line.strip())]
        if found:
            name, message = found[-1].split(": ", 1)
            return one_line(f"{name.rsplit('.', 1)[-1]}: {message}", 300)
    return type(chain[0]).__name__


_REMOTE_ERROR = re.compile(r"^[\w.]+(Error|Exception|Exit|Interrupt): ")
