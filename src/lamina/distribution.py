"""Keras's `keras.distribution` names for lamina's data parallelism on `torch.distributed`.

lamina runs one process per device under `torchrun`, and `fit`, `evaluate` and `predict`
are data parallel there without any call to this module (`lamina.training.distributed` says
how). What this module adds is Keras's API, so that a Keras program runs unchanged, and
Keras's one switch: `DataParallel(auto_shard_dataset=False)` for data already split per rank.

- `initialize(job_addresses, num_processes, process_id)` starts the process group (torchrun's
  environment needs no arguments).
- `set_distribution(DataParallel())` is what lamina does anyway under torchrun;
  `set_distribution(DataParallel(auto_shard_dataset=False))` makes each rank train on,
  evaluate and predict its own data as given (its `batch_size` is then per rank, the logs
  still reduced over all ranks, and `predict` returns each rank's own rows).
- `list_devices()` lists torch devices (`"cuda:0"`, ...; `"cpu:0"` without CUDA).

Keras's `ModelParallel`, `DeviceMesh` and `LayoutMap` (weights sharded over devices) have no
lamina counterpart yet.

Example:
    >>> from lamina import distribution
    >>> distribution.set_distribution(distribution.DataParallel(auto_shard_dataset=False))
    >>> distribution.distribution().auto_shard_dataset
    False
    >>> distribution.set_distribution(None)
"""

from __future__ import annotations

import os
from typing import Any

import torch

from lamina.core.errors import warn

__all__ = [
    "DataParallel",
    "distribution",
    "initialize",
    "list_devices",
    "set_distribution",
]


class DataParallel:
    """Data parallelism: a replica of the model per rank, each global batch split among them.

    Args:
        device_mesh: accepted for Keras's code; lamina's ranks are its devices.
        devices: accepted for Keras's code (one process per device: launch with `torchrun
            --nproc_per_node=N`; outside torchrun lamina runs on the model's one device and
            says so when more than one is listed).
        auto_shard_dataset: lamina gives each rank its part of the data (`True`, Keras's
            default), or takes each rank's data as already its part (`False`).
    """

    def __init__(
        self, device_mesh: Any = None, devices: Any = None, auto_shard_dataset: bool = True
    ) -> None:
        if device_mesh is not None and devices is not None:
            raise ValueError(
                "DataParallel: pass device_mesh or devices, not both (Keras's rule); "
                f"received device_mesh={device_mesh!r} and devices={devices!r}."
            )
        self.device_mesh = device_mesh
        self.devices = list(devices) if devices is not None else None
        self.auto_shard_dataset = bool(auto_shard_dataset)

    def __repr__(self) -> str:
        return f"DataParallel(auto_shard_dataset={self.auto_shard_dataset})"


_current: DataParallel | None = None


def set_distribution(value: DataParallel | None) -> None:
    """Set the distribution `fit`, `evaluate` and `predict` follow (None: lamina's default,
    which is `DataParallel()` under torchrun)."""
    global _current
    if value is not None and not isinstance(value, DataParallel):
        raise TypeError(
            f"set_distribution: expected lamina.distribution.DataParallel or None, received "
            f"{type(value).__name__}; lamina has no ModelParallel yet."
        )
    launched = "WORLD_SIZE" in os.environ or (
        torch.distributed.is_available() and torch.distributed.is_initialized()
    )
    if not launched and value is not None and len(value.devices or ()) > 1:
        warn(
            f"DataParallel over {len(value.devices or ())} devices: lamina runs one process "
            "per device, so this process trains on its model's device alone; launch with "
            f"torchrun --nproc_per_node={len(value.devices or ())} to use them all."
        )
    _current = value


def distribution() -> DataParallel | None:
    """The distribution `set_distribution` set, or None."""
    return _current


def list_devices(device_type: str | None = None) -> list[str]:
    """This machine's devices of a type (`"cpu"`, `"gpu"` or `"cuda"`; default CUDA when
    there is one, else the CPU) as torch device strings."""
    kind = (device_type or ("cuda" if torch.cuda.is_available() else "cpu")).lower()
    if kind in ("gpu", "cuda"):
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if kind == "cpu":
        return ["cpu:0"]
    raise ValueError(f"list_devices: device_type must be 'cpu', 'gpu' or 'cuda'; got {kind!r}.")


def initialize(
    job_addresses: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Start the process group of a multi-process run (Keras's `initialize`).

    Args:
        job_addresses: comma-separated `host:port` of every process; the first one is the
            rendezvous (`MASTER_ADDR`/`MASTER_PORT`, port 29500 when none is given).
            Default: `$KERAS_DISTRIBUTION_JOB_ADDRESSES`, else torchrun's environment.
        num_processes: the number of processes (`$KERAS_DISTRIBUTION_NUM_PROCESSES`, else
            torchrun's `WORLD_SIZE`).
        process_id: this process's rank (`$KERAS_DISTRIBUTION_PROCESS_ID`, else torchrun's
            `RANK`).
    """
    env = os.environ
    addresses = job_addresses or env.get("KERAS_DISTRIBUTION_JOB_ADDRESSES")
    count = (
        num_processes if num_processes is not None else env.get("KERAS_DISTRIBUTION_NUM_PROCESSES")
    )
    rank = process_id if process_id is not None else env.get("KERAS_DISTRIBUTION_PROCESS_ID")
    if addresses:
        first = addresses.split(",")[0].strip()
        host, colon, port = first.rpartition(":")
        env["MASTER_ADDR"] = host if colon else first
        env["MASTER_PORT"] = port if colon else "29500"
    if count is not None:
        env["WORLD_SIZE"] = str(count)
    if rank is not None:
        env["RANK"] = str(rank)
    missing = [name for name in ("MASTER_ADDR", "WORLD_SIZE", "RANK") if name not in env]
    if missing:
        raise ValueError(
            f"initialize: {', '.join(missing)} unknown; pass job_addresses, num_processes and "
            "process_id, or launch with torchrun, which sets them."
        )
    env.setdefault("MASTER_PORT", "29500")
    from lamina.training import distributed

    distributed.active()
