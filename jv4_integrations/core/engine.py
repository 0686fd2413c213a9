"""The engine: runs rows through the model, batching concurrent callers together.

Callers submit a job (their rows and options). Whoever finds the model idle becomes the runner: it
takes every pending job, plans batches over all their rows (length-sorted, token budget), runs each
batch once (dense and multi-vector from the same forward), hands each row's vectors back to its job
and wakes the callers. Others wait. The model is only ever driven by one thread at a time, and
rows of different tasks share a batch (peft's per-sample adapters).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .batching import plan_batches
from .model import Numerics, matryoshka, mean_pool, normalize, token_vectors, unpad
from .preprocess import Row, RowBuilder, collate

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Job:
    """One encode call's work.

    Attributes:
        rows: the rows, in input order.
        truncate_dim: dense size (``None`` = full).
        want_dense: compute dense vectors.
        want_multivector: compute multi-vectors.
        max_pixels: the image budget the rows were sized with.
        batch_size: most rows per forward.
        max_tokens: most padded tokens per forward.
        progress: an optional tqdm bar, advanced per finished row.
    """

    rows: list[Row]
    truncate_dim: int | None
    want_dense: bool
    want_multivector: bool
    max_pixels: int | None
    batch_size: int
    max_tokens: int
    progress: Any = None
    dense: list[torch.Tensor | None] = field(default_factory=list)
    multivector: list[torch.Tensor | None] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False

    def __post_init__(self) -> None:
        self.dense = [None] * len(self.rows)
        self.multivector = [None] * len(self.rows)


class Engine:
    """Drives one loaded model; safe to call from many threads.

    Args:
        model: the (peft-wrapped) :class:`~jv4_integrations.core.model.JV4Module`.
        builder: the checkpoint's row builder.
        device: where the model lives.
        numerics: the pooling arithmetic (reference or float32).
        uses_adapters: whether ``model`` takes ``adapter_names`` (peft).
    """

    def __init__(
        self, model: nn.Module, builder: RowBuilder, device: str, numerics: Numerics, uses_adapters: bool
    ) -> None:
        self.model = model
        self.builder = builder
        self.device = device
        self.numerics = numerics
        self.uses_adapters = uses_adapters
        self._cond = threading.Condition()
        self._pending: list[Job] = []
        self._running = False
        #: forward passes run so far (tests and benchmarks read it)
        self.forward_calls = 0

    def run(self, job: Job) -> None:
        """Compute a job's vectors; returns when they are in ``job.dense`` / ``job.multivector``."""
        if not job.rows:
            job.done = True
            return
        with self._cond:
            self._pending.append(job)
            while not job.done and self._running:
                self._cond.wait()
            if job.done:
                self._raise_for(job)
                return
            self._running = True
        try:
            while True:
                with self._cond:
                    jobs, self._pending = self._pending, []
                    if not jobs:
                        break
                self._execute_contained(jobs)
                with self._cond:
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._running = False
                self._cond.notify_all()
        self._raise_for(job)

    def _execute_contained(self, jobs: list[Job]) -> None:
        """Run one round; when it fails and several callers share it, run each caller alone, so that
        one caller's bad row (or an out-of-memory on the joint batch) fails only that caller."""
        try:
            self._execute(jobs)
            return
        except Exception as exc:
            if len(jobs) == 1:
                jobs[0].error, jobs[0].done = exc, True
                return
            logger.warning("a batch shared by %d calls failed (%s); running each call alone", len(jobs), exc)
        except BaseException as exc:  # KeyboardInterrupt and the like: every caller of this round stops
            _fail(jobs, exc)
            raise
        for job in jobs:
            if job.progress is not None:
                job.progress.reset()  # its rows are counted again
            try:
                self._execute([job])
            except Exception as exc:
                job.error, job.done = exc, True
            except BaseException as exc:
                _fail(jobs, exc)
                raise

    @staticmethod
    def _raise_for(job: Job) -> None:
        if job.error is not None:
            raise job.error

    def _execute(self, jobs: Sequence[Job]) -> None:
        owners = [(job, i) for job in jobs for i in range(len(job.rows))]
        rows = [job.rows[i] for job, i in owners]
        plan = plan_batches(
            [len(r) for r in rows],
            batch_size=min(j.batch_size for j in jobs),
            max_tokens=min(j.max_tokens for j in jobs),
        )
        logger.debug(
            "running %d rows from %d call(s) in %d batches (padding efficiency %.3f)",
            len(rows),
            len(jobs),
            len(plan.batches),
            plan.padding_efficiency,
        )
        with torch.inference_mode():
            for indices in plan.batches:
                batch_owners = [owners[i] for i in indices]
                self._forward([rows[i] for i in indices], batch_owners)
                for job in {id(j): j for j, _ in batch_owners}.values():
                    if job.progress is not None:
                        job.progress.update(sum(1 for j, _ in batch_owners if j is job))
        for job in jobs:
            job.done = True

    def _forward(self, rows: list[Row], owners: list[tuple[Job, int]]) -> None:
        batch = collate(rows, self.builder, [job.max_pixels for job, _ in owners], self.device)
        want_mv = any(job.want_multivector for job, _ in owners)
        kwargs: dict[str, Any] = {}
        if self.uses_adapters:
            kwargs["adapter_names"] = batch.tasks
        with self.numerics.context():
            hidden, projected = self.model(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                pixel_values=batch.pixel_values,
                image_grid_thw=batch.image_grid_thw,
                mm_token_type_ids=batch.mm_token_type_ids,
                with_projection=want_mv,
                **kwargs,
            )
            self.forward_calls += 1
            dense = normalize(mean_pool(hidden, batch.pool_mask, reference=self.numerics.reference))
            by_dim: dict[int | None, list[int]] = {}
            for k, (job, _) in enumerate(owners):
                if job.want_dense:
                    by_dim.setdefault(job.truncate_dim, []).append(k)
            for dim, ks in by_dim.items():
                vectors = matryoshka(dense[ks], dim).to(torch.float32).cpu()
                for vector, k in zip(vectors, ks, strict=False):
                    job, i = owners[k]
                    job.dense[i] = vector
            if want_mv and projected is not None:
                tokens = token_vectors(projected, batch.attention_mask, reference=self.numerics.reference)
                per_row = unpad(tokens.to(torch.float32).cpu(), batch.attention_mask)
                for k, (job, i) in enumerate(owners):
                    if job.want_multivector:
                        job.multivector[i] = per_row[k]


def _fail(jobs: Sequence[Job], exc: BaseException) -> None:
    """Hand ``exc`` to every job of ``jobs`` that has no result yet."""
    for job in jobs:
        if not job.done:
            job.error, job.done = exc, True
