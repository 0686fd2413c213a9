"""Exception types raised by jv4-integrations.

Failures of the things the package handles (checkpoints, inputs, stores, collections, missing
extras) are one of these, and each subclasses the builtin exception that fits, so ``except
ValueError`` style handling keeps working. A bad argument of a call (an unknown option value, a
wrong type) raises a plain ``ValueError`` or ``TypeError`` that lists the valid values, as Python's
own functions do; ``except JV4Error`` does not catch those.
"""

from __future__ import annotations

__all__ = [
    "JV4Error",
    "CheckpointError",
    "InputError",
    "InputProblem",
    "SchemaMismatchError",
    "MissingDependencyError",
    "UnsupportedOutputError",
    "StoreError",
    "CollectionNotFoundError",
]

from dataclasses import dataclass


class JV4Error(Exception):
    """Base class of every error raised by jv4-integrations."""


class CheckpointError(JV4Error, ValueError):
    """A checkpoint cannot be resolved or does not match the published layout.

    Raised for missing, unexpected or mis-shaped tensors, pickle weights, unreadable configs and
    unreachable Hub repositories. The message names every offending file or tensor.
    """


@dataclass(frozen=True)
class InputProblem:
    """One rejected input: its position in the call and why it was rejected."""

    index: int
    reason: str

    def __str__(self) -> str:
        return f"item {self.index}: {self.reason}"


class InputError(JV4Error, ValueError):
    """One or more inputs were rejected before any computation.

    Attributes:
        problems: every rejected item, in input order, with its index and the reason.
    """

    def __init__(self, problems: list[InputProblem] | tuple[InputProblem, ...], *, what: str = "input") -> None:
        self.problems: tuple[InputProblem, ...] = tuple(problems)
        shown = "; ".join(str(p) for p in self.problems[:20])
        more = f"; and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        noun = what if len(self.problems) == 1 else (what[:-1] + "ies" if what.endswith("y") else what + "s")
        super().__init__(f"{len(self.problems)} invalid {noun}: {shown}{more}")


class UnsupportedOutputError(JV4Error, ValueError):
    """The loaded checkpoint cannot produce what was asked (e.g. multi-vectors from a merged variant)."""


class SchemaMismatchError(JV4Error, ValueError):
    """An existing vector collection does not match the requested schema.

    Attributes:
        differences: one human-readable line per differing setting.
    """

    def __init__(self, collection: str, differences: list[str]) -> None:
        self.collection = collection
        self.differences = tuple(differences)
        lines = "\n  - ".join(self.differences)
        super().__init__(
            f"collection {collection!r} exists with a different schema ({len(self.differences)} "
            f"difference(s); it was left unchanged):\n  - {lines}"
        )


class StoreError(JV4Error, RuntimeError):
    """A vector-store operation failed (unknown collection, backend error, bad filter...)."""


class CollectionNotFoundError(StoreError):
    """The collection does not exist (and the call was not allowed to create it)."""


class MissingDependencyError(JV4Error, ImportError):
    """An optional dependency is not installed; the message names the pip extra to install."""
