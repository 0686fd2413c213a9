"""Running a flow: the operations of a collection, written once for the sync and the async API.

Each operation is a generator that yields :class:`Step` requests (a backend call, or CPU work such
as decoding and encoding) and receives their results. :func:`drive` runs a flow against a
synchronous backend; :func:`adrive` awaits a native async backend and moves CPU work and
synchronous backends to a worker thread, so the event loop is never blocked. Because both drivers
run the same flow, the async twins return exactly what the sync methods return.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ...errors import StoreError

if TYPE_CHECKING:
    from ...core.encoder import JV4Encoder
    from ..record import ModelRecord
    from ..schema import CollectionSchema

__all__ = ["Context", "Flow", "Step", "adrive", "call", "cpu", "drive"]

T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    """One request of a flow: ``backend.<op>(*args, **kwargs)``, or ``fn(*args, **kwargs)`` (CPU work)."""

    op: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    fn: Callable[..., Any] | None = None


Flow = Generator[Step, Any, T]


def call(op: str, *args: Any, **kwargs: Any) -> Step:
    return Step(op, args, kwargs)


def cpu(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Step:
    return Step("", args, kwargs, fn)


def drive(flow: Flow[T], backend: Any) -> T:
    """Run a flow against a synchronous backend."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        error = None
        try:
            value = (
                step.fn(*step.args, **step.kwargs)
                if step.fn is not None
                else getattr(backend, step.op)(*step.args, **step.kwargs)
            )
        except BaseException as exc:  # handed to the flow, which re-raises it
            error = exc


async def adrive(flow: Flow[T], backend: Any, *, native: bool) -> T:
    """Run a flow: await a native async backend; CPU work and sync backends run in a worker thread."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        error = None
        try:
            if step.fn is not None:
                value = await asyncio.to_thread(step.fn, *step.args, **step.kwargs)
            elif native:
                value = getattr(backend, step.op)(*step.args, **step.kwargs)
                if inspect.isawaitable(value):
                    value = await value
            else:
                value = await asyncio.to_thread(getattr(backend, step.op), *step.args, **step.kwargs)
        except BaseException as exc:
            error = exc


@dataclass
class Context:
    """What a flow knows about its collection (filled in by :func:`open_flow`)."""

    name: str
    encoder: JV4Encoder | None
    task: str | None
    check_filters: bool
    schema: CollectionSchema | None = None
    record: ModelRecord | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def bound(self) -> CollectionSchema:
        if self.schema is None:
            raise StoreError(f"collection {self.name!r} is not open")
        return self.schema

    def require_encoder(self, what: str) -> JV4Encoder:
        if self.encoder is None:
            raise StoreError(
                f"{what} needs an encoder: open the collection with encoder=JV4Encoder.shared(...), "
                "or pass vectors (add_embeddings / search_by_vector)"
            )
        return self.encoder
