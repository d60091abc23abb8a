"""FSDP2 sharding of the student, and a light start for large presets.

Today's start builds the whole student on every rank, then shards it: about 12 GB of host memory per
process for ``3b``. The light start builds each shard unit (:meth:`Student.shard_units`: every
transformer block and the vocoder) on the meta device, shards it with ``fully_shard``, allocates only
this rank's shard (``to_empty``) and fills it from a reference copy of that one unit, built on the
CPU by the same constructor at the same point of the random stream. So every weight equals the one
today's start gives, and a rank holds at most one whole unit at a time, besides its shards and the
small rest of the model (embeddings, predictors, output heads).
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from distill.model import Student, StudentConfig


class ShardedUnitBuilder:
    """A :data:`distill.model.UnitBuilder` that shards each unit as it is built (the light start).

    Call it inside an initialised process group; the caller seeds torch's global RNG first, exactly as
    for an unsharded build.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = torch.device(device)
        """Where this rank's shards live (``cpu`` under gloo, ``cuda:N`` under NCCL)."""
        self.units_built = 0
        """Units built so far."""

    def __call__(self, make: Callable[[], nn.Module]) -> nn.Module:
        from torch.distributed.fsdp import fully_shard

        with torch.device("meta"):
            unit = make()  # shapes only: draws nothing from the random stream
        reference = make()  # on the CPU: the very draws the unsharded constructor makes, in order
        fully_shard(unit)
        unit.to_empty(device=self.device)
        _fill_shards(unit, reference)
        self.units_built += 1
        return unit


def _fill_shards(unit: nn.Module, reference: nn.Module) -> None:
    """Copy this rank's part of every parameter, and every (unsharded) buffer, from ``reference``."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    with torch.no_grad():
        for name, parameter in unit.named_parameters():
            full = reference.get_parameter(name).detach().to(parameter.device)
            if isinstance(parameter, DTensor):
                # Every rank holds the same full tensor (same seed): slice it locally, no communication.
                mine = distribute_tensor(full, parameter.device_mesh, parameter.placements, src_data_rank=None)
                parameter.to_local().copy_(mine.to_local())
            else:
                parameter.copy_(full)
        for name, buffer in unit.named_buffers():
            buffer.copy_(reference.get_buffer(name))


def build_sharded_student(config: StudentConfig, device: torch.device, light: bool = True) -> Student:
    """The student sharded with FSDP2 (``fully_shard`` on every shard unit, then on the whole).

    Args:
        config: the student's config.
        device: this rank's device.
        light: build unit by unit on the meta device (:class:`ShardedUnitBuilder`); False builds the
            whole student first, then shards it (the former start, kept for comparison).
    Seed torch's global RNG before calling: either way the weights are those of ``Student(config)``.
    """
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    if light:
        student = Student(config, build_unit=ShardedUnitBuilder(device))
    else:
        student = Student(config).to(device)
        for unit in student.shard_units():
            fully_shard(unit)
    fully_shard(student)  # the rest; moves what is still on the CPU to ``device``
    register_fsdp_forward_method(student, "training_losses")
    return student


def host_memory_mb() -> float | None:
    """This process's resident host memory now, in MB (None where /proc is missing)."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return resident_pages * resource.getpagesize() / 1e6


def peak_host_memory_mb() -> float:
    """This process's peak resident host memory so far, in MB (10^6 bytes; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
