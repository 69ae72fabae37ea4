"""How the ablation probe disturbs weights: in files (for a trusted worker) and in memory (beside hand-in code).

The disturbance permutes every floating tensor's values within consecutive blocks of
:data:`BLOCK` along its last dimension, with a fresh random permutation per block
(:func:`permute_blocks`).  Unlike added noise, it keeps what a hand-in could inspect to tell the
probe from a real run: the dtype and every exact value (bfloat16 values stay bfloat16 values),
the value distribution, every norm, constant tensors (RMSNorm weights of exactly 1.0 stay 1.0)
and each block's set of distinct values.  Blocks of 16, not 32: GGUF quantisation blocks run
along the same dimension and are 32 wide (Q4_1, Q8_0: the embedded model's 16-level grid per
32 values) or hold 16-wide sub-blocks with scales of their own (Q6_K), so a 16-wide block never
mixes two grids, whatever the format.  It still destroys what the weights compute: each row of
a matrix meets its inputs in a different order.  No disturbance can
hide from a hand-in that runs its model on a text of its own and checks the prediction: that is
why the grader's own replay, not this probe, is the root of trust, and ablation a second opinion.

The grader's preferred ablation never lets hand-in code see the undisturbed weights: a trusted
worker (no hand-in code, :func:`~grader_plugin.worker.trusted_tasks.disturbed_copy`) writes a copy
of the base model and permutes, in a copy of the hand-in, the LoRA tensors of its weight files (so
its adapter is disturbed, not all-zero), keeping file names, sizes, headers, tensor order and
mtimes; the probe worker then answers through the ordinary task with those files served in place
of the real ones.  Where the hand-in loads a model the grader cannot serve, the fallback
(:func:`~grader_plugin.worker.handin_tasks.ablated_answers`) permutes the weights in memory after
``load()`` with :func:`ablate` (which a hand-in can notice: the finding says which was used).
:mod:`grader_plugin.integrity.behaviour` judges what comes back.  Worker side.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from grader_plugin.worker.models import torch_modules

BLOCK = 16
CHUNK_ROWS = 4096
"""Rows permuted at a time: bounds the memory of the random keys for a large embedding."""
FLOAT_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1}
MAX_HEADER = 100_000_000
TORCH_WEIGHTS = (".bin", ".pt", ".pth")


def permute_blocks(values, generator):
    """A copy of tensor ``values`` whose entries are permuted within consecutive blocks of :data:`BLOCK`
    along the last dimension (a shorter last block is permuted within itself), one random
    permutation per block drawn from the CPU ``generator``."""
    import torch

    if values.dim() == 0 or values.numel() < 2:
        return values.clone()
    rows = values.reshape(-1, values.shape[-1])
    mixed = rows.clone()
    width = rows.shape[1]
    full = width - width % BLOCK
    for start in range(0, rows.shape[0], CHUNK_ROWS):
        chunk = rows[start:start + CHUNK_ROWS]
        for begin, end, size in ((0, full, BLOCK), (full, width, width - full)):
            if end - begin < 2:
                continue
            part = chunk[:, begin:end].reshape(len(chunk), -1, size)
            order = torch.rand(part.shape, generator=generator).argsort(dim=-1).to(values.device)
            mixed[start:start + len(chunk), begin:end] = part.gather(-1, order).reshape(len(chunk), end - begin)
    return mixed.reshape(values.shape)


def _header(handle, path: Path) -> tuple[dict, int]:
    """The JSON header of an open safetensors file and where its data starts; ValueError when malformed."""
    size = int.from_bytes(handle.read(8), "little")
    if not 0 < size <= min(MAX_HEADER, path.stat().st_size - 8):
        raise ValueError(f"{path.name}: not a safetensors file (header length {size})")
    header = json.loads(handle.read(size))
    if not isinstance(header, dict):
        raise ValueError(f"{path.name}: not a safetensors file (header is not an object)")
    return header, 8 + size


def disturb_safetensors(path: Path, generator, select=lambda name: True) -> int:
    """Permute (:func:`permute_blocks`), in place, the floating tensors of the safetensors file ``path``
    whose names ``select`` accepts; the header, size and times stay as they were.  Tensors changed."""
    import numpy as np
    import torch

    stat, changed = path.stat(), 0
    with open(path, "r+b") as handle:
        header, start = _header(handle, path)
        for name, info in header.items():
            if name == "__metadata__" or info.get("dtype") not in FLOAT_BYTES or not select(name):
                continue
            width, (begin, end) = FLOAT_BYTES[info["dtype"]], info["data_offsets"]
            count = int(np.prod(info["shape"], dtype=np.int64))
            if end - begin != count * width:
                raise ValueError(f"{path.name}: tensor {name!r} has {end - begin} bytes for shape {info['shape']}")
            handle.seek(start + begin)
            raw = np.frombuffer(handle.read(end - begin), dtype=f"<i{width}").copy()
            values = torch.from_numpy(raw).reshape(info["shape"])  # bit patterns: exact for any float dtype
            mixed = permute_blocks(values, generator)
            if not torch.equal(mixed, values):
                handle.seek(start + begin)
                handle.write(mixed.numpy().tobytes())
                changed += 1
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return changed


def disturb_torch_file(path: Path, generator) -> int:
    """:func:`disturb_safetensors` for a pickled state dict (``pytorch_model.bin``); times kept."""
    import torch

    stat = path.stat()
    state = torch.load(path, map_location="cpu", weights_only=True)
    changed = 0
    for name, tensor in state.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            mixed = permute_blocks(tensor, generator)
            changed += int(not torch.equal(mixed, tensor))
            state[name] = mixed
    torch.save(state, path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return changed


def ablate(model: Any, seed: int) -> dict:
    """Permute (:func:`permute_blocks`) every floating parameter of every module ``model`` holds; what changed."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    modules = torch_modules(model)
    done, adapters, weights = set(), 0, 0
    with torch.no_grad():
        for module in modules:
            for name, parameter in module.named_parameters():
                if id(parameter) in done or not parameter.is_floating_point():
                    continue
                done.add(id(parameter))
                mixed = permute_blocks(parameter.detach(), generator)
                if torch.equal(mixed, parameter.detach()):
                    continue
                parameter.copy_(mixed)
                if "lora_" in name:
                    adapters += 1
                else:
                    weights += 1
    return {
        "modules": sorted({type(m).__name__ for m in modules}),
        "tensors_disturbed": weights,
        "adapter_tensors_disturbed": adapters,
    }
