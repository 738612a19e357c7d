"""The training windows of a ``TimeSeriesDataSet``, built once and then served from memory.

Why: ``TimeSeriesDataSet.__getitem__`` builds every window in Python (index lookups, slicing,
the encoder normaliser) - about a millisecond a window - and a ``DataLoader`` over it does that
again every epoch. On ~60k windows an epoch spent minutes building windows and seconds
training. lakeloop's windows never change between epochs (encoder and decoder lengths are
fixed, ``min == max``, and the ``EncoderNormalizer`` depends on the window alone), so one pass
builds them all (in large batches, collated by pytorch-forecasting's own ``_collate_fn``) and
each epoch draws shuffled batches by indexing the stacked tensors: the same batches, in the
same format, as ``to_dataloader(train=True)`` gives, without the per-window Python.

Memory: the stacked windows take ``windows x (encoder + horizon) x inputs x 4`` bytes (60k
windows of 42 steps x 10 inputs: ~100 MB).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler


def _concat(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(parts)
    if isinstance(first, dict):
        return {k: _concat([p[k] for p in parts]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_concat(list(z)) for z in zip(*parts, strict=True))
    return first  # None (no weights) and other constants of the batch


def _take(obj: Any, index: torch.Tensor) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj[index]
    if isinstance(obj, dict):
        return {k: _take(v, index) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(_take(v, index) for v in obj)
    return obj


def _length(obj: Any) -> int:
    x, _y = obj
    return int(x["decoder_lengths"].shape[0])


def cached_loader(dataset: Any, batch_size: int, seed: int, num_workers: int = 0,
                  pin_memory: bool = False, build_batch: int = 2048) -> DataLoader:
    """A training ``DataLoader`` over ``dataset``'s windows, built once (``num_workers``
    processes build them): shuffled every epoch (seeded), the last incomplete batch dropped as
    ``to_dataloader(train=True)`` does."""
    built = _concat(list(dataset.to_dataloader(train=False, batch_size=build_batch,
                                               num_workers=num_workers)))
    n = _length(built)
    generator = torch.Generator().manual_seed(seed)
    indices = range(n)  # the "dataset" is the window numbers; collate_fn slices the tensors
    sampler = BatchSampler(RandomSampler(indices, generator=generator), batch_size,
                           drop_last=n > batch_size)
    return DataLoader(indices, batch_sampler=sampler, pin_memory=pin_memory,  # type: ignore[arg-type]
                      collate_fn=lambda idx: _take(built, torch.as_tensor(idx)))
