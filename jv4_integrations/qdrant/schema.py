"""The collection schema: a dense vector and a MaxSim multi-vector, side by side, plus cluster settings.

:class:`CollectionSchema` is what the caller asks for. Each backend reports what an existing
collection really has as a :class:`ReportedSchema` (the backend-neutral form), and
:func:`schema_differences` lists every setting that differs, so that opening a collection with the
wrong schema fails with one :class:`~jv4_integrations.errors.SchemaMismatchError` naming all of them.
Settings a backend does not report (``None``) are not compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DATATYPES",
    "PREFETCH_VECTORS",
    "QUANTIZATIONS",
    "CollectionSchema",
    "Datatype",
    "Quantization",
    "ReportedSchema",
    "ShardKey",
    "VectorSpec",
    "infer_schema",
    "schema_differences",
]

Datatype = Literal["float32", "float16", "uint8"]
DATATYPES: tuple[str, ...] = ("float32", "float16", "uint8")
Quantization = Literal["scalar", "binary"]
QUANTIZATIONS: tuple[str, ...] = ("scalar", "binary")
ShardKey = str | int
PrefetchVector = Literal["dense", "mean"]
#: What hybrid search prefetches with: the model's dense vector, or the normalised mean of the multi-vector.
PREFETCH_VECTORS: tuple[str, ...] = ("dense", "mean")


@dataclass(frozen=True)
class VectorSpec:
    """One named vector, backend-neutral. ``None`` = not reported / not compared.

    Attributes:
        size: vector (token) width.
        distance: ``"cosine"``, ``"dot"``, ``"euclid"`` or ``"manhattan"``.
        comparator: ``"max_sim"`` for a multi-vector, ``"none"`` for a plain dense vector.
        datatype: storage type, ``"float32"``, ``"float16"`` or ``"uint8"``.
        hnsw_m: HNSW graph degree (``0`` = no graph).
        quantization: ``"scalar"``, ``"binary"``, ``"product"``, ``"turbo"`` or ``"none"``.
        on_disk: original vectors memory-mapped from disk instead of held in RAM.
    """

    size: int | None = None
    distance: str | None = None
    comparator: str | None = None
    datatype: str | None = None
    hnsw_m: int | None = None
    quantization: str | None = None
    on_disk: bool | None = None


@dataclass(frozen=True)
class ReportedSchema:
    """What a backend reports about an existing collection (``None`` = not reported)."""

    vectors: Mapping[str, VectorSpec]
    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None
    sharding_method: str | None = None


def _positive(name: str, value: object, *, allow_none: bool = False, minimum: int = 1) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class CollectionSchema:
    """The vectors and settings of a jv4 collection.

    Distance is cosine for both vectors and the multi-vector comparator is ``MAX_SIM``; these are
    fixed (they are what the model's vectors mean) but still checked on existing collections.

    Attributes:
        dense_size: size of the dense vector: one of the encoder's Matryoshka sizes
            (``encoder.dims``; 128 ... 2048 for the published model).
        dense_name: name of the dense vector.
        multivector_name: name of the multi-vector.
        multivector_size: token width of the multi-vector (128).
        multivector_datatype: multi-vector storage: ``"float32"``, ``"float16"`` (half the memory,
            scores within ~1e-3) or ``"uint8"`` (integers 0-255 only: for vectors you quantized
            yourself and add with ``add_embeddings``).
        multivector_hnsw_m: HNSW degree of the multi-vector; ``0`` (default) builds no graph, the
            multi-vector only reranks and exact MaxSim scans.
        dense_hnsw_m: HNSW degree of the dense vector (``None`` = the backend's default, 16).
        dense_quantization / multivector_quantization: ``None``, ``"scalar"`` (int8) or ``"binary"``.
        dense_on_disk / multivector_on_disk: keep the original vectors on disk (memory-mapped).
        on_disk_payload: keep payloads on disk (server; the embedded engine always does).
        shard_number: shards of the collection (server / cluster only).
        replication_factor: copies of each shard (cluster only).
        write_consistency_factor: replicas that must confirm a write (cluster only).
        shard_keys: custom sharding: the shard keys to create; writes and reads then name one
            with ``shard_key=`` (server / cluster only). Empty = automatic sharding.
        prefetch_vector: what hybrid search prefetches its K candidates with: ``"dense"`` (the
            model's dense vector; default) or ``"mean"``: a third named vector, ``mean_name``
            (``multivector_size`` wide, cosine, HNSW), holding the normalised mean of each item's
            multi-vector tokens, searched with the normalised mean of the query's tokens. It is
            computed from the multi-vector at write time (no extra model work) and can predict
            MaxSim better than the dense vector (see the docs); ``mode="dense"`` still uses the
            dense vector.
        mean_name: name of that third vector.
        pooled_tokens: a middle stage for hybrid search: when set, each item's multi-vector is also
            stored pooled to at most this many tokens (spherical k-means of its tokens, computed at
            write time) in the MaxSim multi-vector ``pooled_name`` (float16, no HNSW). Hybrid search
            with ``rerank_candidates=K2`` then keeps the K2 best of the K prefetched candidates by
            MaxSim on the pooled tokens, and only those get the exact MaxSim: a larger K for about
            the same time (see the docs for measured settings). ``None`` (default): no pooled copy.
        pooled_name: name of the pooled multi-vector.

    Example:
        >>> CollectionSchema(dense_size=128, multivector_datatype="float16").dense_name
        'dense'
    """

    dense_size: int
    dense_name: str = "dense"
    multivector_name: str = "multivector"
    multivector_size: int = 128
    multivector_datatype: Datatype = "float32"
    multivector_hnsw_m: int = 0
    dense_hnsw_m: int | None = None
    dense_quantization: Quantization | None = None
    multivector_quantization: Quantization | None = None
    dense_on_disk: bool = False
    multivector_on_disk: bool = False
    on_disk_payload: bool = False
    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None
    shard_keys: tuple[ShardKey, ...] = field(default=())
    prefetch_vector: PrefetchVector = "dense"
    mean_name: str = "mean"
    pooled_tokens: int | None = None
    pooled_name: str = "pooled"

    def __post_init__(self) -> None:
        _positive("dense_size", self.dense_size)
        _positive("multivector_size", self.multivector_size)
        for attr in ("dense_name", "multivector_name"):
            value = getattr(self, attr)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{attr} must be a non-empty str, got {value!r}")
        if self.dense_name == self.multivector_name:
            raise ValueError(f"dense_name and multivector_name must differ, both are {self.dense_name!r}")
        if self.prefetch_vector not in PREFETCH_VECTORS:
            raise ValueError(
                f"unknown prefetch_vector {self.prefetch_vector!r}; expected one of {list(PREFETCH_VECTORS)}"
            )
        if not isinstance(self.mean_name, str) or not self.mean_name:
            raise ValueError(f"mean_name must be a non-empty str, got {self.mean_name!r}")
        if self.prefetch_vector == "mean" and self.mean_name in (self.dense_name, self.multivector_name):
            raise ValueError(f"mean_name {self.mean_name!r} must differ from dense_name and multivector_name")
        _positive("pooled_tokens", self.pooled_tokens, allow_none=True)
        if not isinstance(self.pooled_name, str) or not self.pooled_name:
            raise ValueError(f"pooled_name must be a non-empty str, got {self.pooled_name!r}")
        if self.pooled_tokens is not None and self.pooled_name in (
            self.dense_name,
            self.multivector_name,
            self.mean_name if self.prefetch_vector == "mean" else None,
        ):
            raise ValueError(f"pooled_name {self.pooled_name!r} must differ from the other vector names")
        if self.multivector_datatype not in DATATYPES:
            raise ValueError(
                f"unknown multivector_datatype {self.multivector_datatype!r}; expected one of {list(DATATYPES)}"
            )
        for attr in ("dense_quantization", "multivector_quantization"):
            value = getattr(self, attr)
            if value is not None and value not in QUANTIZATIONS:
                raise ValueError(f"unknown {attr} {value!r}; expected None or one of {list(QUANTIZATIONS)}")
        _positive("multivector_hnsw_m", self.multivector_hnsw_m, minimum=0)
        _positive("dense_hnsw_m", self.dense_hnsw_m, allow_none=True, minimum=0)
        for attr in ("shard_number", "replication_factor", "write_consistency_factor"):
            _positive(attr, getattr(self, attr), allow_none=True)
        replicas = self.replication_factor if self.replication_factor is not None else 1
        if self.write_consistency_factor is not None and self.write_consistency_factor > replicas:
            raise ValueError(
                f"write_consistency_factor {self.write_consistency_factor} exceeds the {replicas} replica(s) of "
                "each shard (replication_factor); a write could never be confirmed"
            )
        if not isinstance(self.shard_keys, tuple):
            object.__setattr__(self, "shard_keys", tuple(self.shard_keys))
        for key in self.shard_keys:
            if isinstance(key, bool) or not isinstance(key, (str, int)) or key == "":
                raise ValueError(f"shard keys must be non-empty str or int, got {key!r}")

    @property
    def sharding_method(self) -> str:
        """``"custom"`` when :attr:`shard_keys` are set, else ``"auto"``."""
        return "custom" if self.shard_keys else "auto"

    @property
    def has_cluster_settings(self) -> bool:
        """Whether any setting only a Qdrant server or cluster honours is set."""
        return bool(self.shard_keys) or any(
            v is not None for v in (self.shard_number, self.replication_factor, self.write_consistency_factor)
        )

    @property
    def prefetch_name(self) -> str:
        """The named vector hybrid search prefetches with (:attr:`dense_name` or :attr:`mean_name`)."""
        return self.mean_name if self.prefetch_vector == "mean" else self.dense_name

    def vector_specs(self) -> dict[str, VectorSpec]:
        """The expected named vectors, backend-neutral (``None`` fields are not compared)."""
        specs = {
            self.dense_name: VectorSpec(
                size=self.dense_size,
                distance="cosine",
                comparator="none",
                datatype="float32",
                hnsw_m=self.dense_hnsw_m,
                quantization=self.dense_quantization or "none",
                on_disk=self.dense_on_disk,
            ),
            self.multivector_name: VectorSpec(
                size=self.multivector_size,
                distance="cosine",
                comparator="max_sim",
                datatype=self.multivector_datatype,
                hnsw_m=self.multivector_hnsw_m,
                quantization=self.multivector_quantization or "none",
                on_disk=self.multivector_on_disk,
            ),
        }
        if self.prefetch_vector == "mean":
            specs[self.mean_name] = VectorSpec(
                size=self.multivector_size, distance="cosine", comparator="none", datatype="float32",
                quantization="none", on_disk=False,
            )  # fmt: skip
        if self.pooled_tokens is not None:
            specs[self.pooled_name] = VectorSpec(
                size=self.multivector_size, distance="cosine", comparator="max_sim", datatype="float16",
                hnsw_m=0, quantization="none", on_disk=False,
            )  # fmt: skip
        return specs


_VECTOR_FIELDS: tuple[tuple[str, str], ...] = (
    ("size", "size"),
    ("distance", "distance"),
    ("comparator", "multi-vector comparator"),
    ("datatype", "datatype"),
    ("hnsw_m", "HNSW m"),
    ("quantization", "quantization"),
    ("on_disk", "on_disk"),
)


def schema_differences(schema: CollectionSchema, reported: ReportedSchema) -> list[str]:
    """Every difference between the requested schema and an existing collection.

    Args:
        schema: what the caller asked for.
        reported: what the backend reports.

    Returns:
        One human-readable line per difference (empty when they agree on everything reported).
    """
    out: list[str] = []
    expected = schema.vector_specs()
    have = sorted(reported.vectors)
    for name, want in expected.items():
        got = reported.vectors.get(name)
        if got is None:
            out.append(f"vector {name!r} is missing (the collection has {have or 'no named vectors'})")
            continue
        for attr, label in _VECTOR_FIELDS:
            w, g = getattr(want, attr), getattr(got, attr)
            if w is not None and g is not None and w != g:
                out.append(f"vector {name!r} {label}: the collection has {g!r}, requested {w!r}")
    for name in have:
        if name not in expected:
            out.append(f"vector {name!r} exists in the collection but not in the requested schema")
    for attr in ("shard_number", "replication_factor", "write_consistency_factor"):
        w, g = getattr(schema, attr), getattr(reported, attr)
        if w is not None and g is not None and w != g:
            out.append(f"{attr}: the collection has {g!r}, requested {w!r}")
    if reported.sharding_method is not None and reported.sharding_method != schema.sharding_method:
        out.append(
            f"sharding_method: the collection has {reported.sharding_method!r}, requested {schema.sharding_method!r}"
        )
    return out


def infer_schema(
    reported: ReportedSchema,
    *,
    dense_name: str | None = None,
    multivector_name: str | None = None,
    pooled_name: str | None = None,
    pooled_tokens: int | None = None,
) -> CollectionSchema:
    """Read the schema of an existing collection (used when the caller passes none).

    Args:
        reported: what the backend reports.
        dense_name / multivector_name: the vector names when known (from the jv4 record); else the
            one ``max_sim`` vector is the multi-vector and the one other the dense vector. With the
            dense vector known, one more plain vector of the multi-vector's width is the mean-token
            prefetch vector (``prefetch_vector="mean"``).
        pooled_name / pooled_tokens: the pooled multi-vector and its token count, from the jv4
            record (the backend does not report the count).

    Returns:
        The collection's schema.

    Raises:
        ValueError: the collection does not hold exactly one dense and one MaxSim multi-vector.
    """
    pooled = pooled_name if pooled_name is not None and pooled_name in reported.vectors else None
    multi = [n for n, s in reported.vectors.items() if s.comparator == "max_sim" and n != pooled]
    dense = [n for n, s in reported.vectors.items() if s.comparator != "max_sim"]
    mv_name = multivector_name or (multi[0] if len(multi) == 1 else None)
    d_name = dense_name or (dense[0] if len(dense) == 1 else None)
    mean_name = None
    if d_name is not None and mv_name is not None and mv_name in reported.vectors:
        width = reported.vectors[mv_name].size
        others = [n for n in dense if n != d_name and reported.vectors[n].size == width]
        mean_name = others[0] if len(others) == 1 else None
    if mv_name is None or d_name is None or mv_name not in reported.vectors or d_name not in reported.vectors:
        raise ValueError(
            "cannot tell the dense vector and the MaxSim multi-vector apart in this collection "
            f"(vectors: {dict(reported.vectors)}); pass schema=CollectionSchema(...)"
        )
    d, m = reported.vectors[d_name], reported.vectors[mv_name]
    if d.size is None or m.size is None:
        raise ValueError(f"the backend does not report vector sizes ({dict(reported.vectors)}); pass schema=")
    datatype = m.datatype if m.datatype in DATATYPES else "float32"
    return CollectionSchema(
        dense_size=d.size,
        dense_name=d_name,
        multivector_name=mv_name,
        multivector_size=m.size,
        multivector_datatype=datatype,  # type: ignore[arg-type]
        multivector_hnsw_m=m.hnsw_m if m.hnsw_m is not None else 0,
        dense_hnsw_m=d.hnsw_m,
        dense_quantization=d.quantization if d.quantization in QUANTIZATIONS else None,  # type: ignore[arg-type]
        multivector_quantization=m.quantization if m.quantization in QUANTIZATIONS else None,  # type: ignore[arg-type]
        dense_on_disk=bool(d.on_disk),
        multivector_on_disk=bool(m.on_disk),
        shard_number=reported.shard_number,
        replication_factor=reported.replication_factor,
        write_consistency_factor=reported.write_consistency_factor,
        prefetch_vector="dense" if mean_name is None else "mean",
        mean_name=mean_name or "mean",
        pooled_tokens=pooled_tokens if pooled is not None else None,
        pooled_name=pooled or "pooled",
    )
