"""Opening the collection of a :class:`JV4QdrantVectorStore` and matching it with its embedding."""

from __future__ import annotations

from typing import Any

from ..errors import CollectionNotFoundError
from ..qdrant.collection import MultiVectorCollection
from ..qdrant.schema import CollectionSchema
from .embedding import JV4Embedding

__all__ = ["check_sizes", "embedding_of", "open_collection"]


def open_collection(
    location: Any, name: str, embed: JV4Embedding | None, api_key: str | None, schema: CollectionSchema | None
) -> tuple[MultiVectorCollection, JV4Embedding | None]:
    """Open an existing collection, or create it with the embedding's sizes."""
    kwargs: dict[str, Any] = {"api_key": api_key, "schema": schema}
    if embed is not None:
        kwargs.update(encoder=embed.encoder, task=embed.task)
    try:
        return MultiVectorCollection(location, name, create=False, **kwargs), embed
    except CollectionNotFoundError:
        pass
    embed = embed if embed is not None else JV4Embedding()
    enc = embed.encoder
    if schema is None:
        schema = CollectionSchema(dense_size=embed.dimensions or enc.dim, multivector_size=enc.multivector_dim)
    kwargs.update(encoder=enc, task=embed.task, schema=schema)
    return MultiVectorCollection(location, name, create=True, **kwargs), embed


def embedding_of(collection: MultiVectorCollection) -> JV4Embedding:
    """The embedding a collection was written with: its encoder, or its recorded model, task and size."""
    size = collection.schema.dense_size
    if collection.encoder is not None:
        enc = collection.encoder
        return JV4Embedding(encoder=enc, task=collection.task, dimensions=None if size == enc.dim else size)
    record = collection.model_record
    if record is None or not record.model:
        raise ValueError(
            f"collection {collection.name!r} records no model; pass embed_model=JV4Embedding(...) with the model "
            "that wrote it"
        )
    return JV4Embedding(model_name=record.model, task=record.task, dimensions=size)


def check_sizes(collection: MultiVectorCollection, embed: JV4Embedding) -> None:
    """Refuse an embedding whose vectors the collection cannot hold or compare (size, task)."""
    size = collection.schema.dense_size
    given = embed.dimensions if embed.dimensions is not None else embed.encoder.dim
    if given != size:
        raise ValueError(
            f"collection {collection.name!r} stores dense vectors of size {size}, embed_model gives {given}: "
            f"use JV4Embedding(dimensions={size}, ...) or another collection"
        )
    if embed.task is not None and collection.task is not None and embed.task != collection.task:
        raise ValueError(
            f"collection {collection.name!r} was written with task {collection.task!r}, embed_model uses "
            f"{embed.task!r}: vectors of different tasks do not compare"
        )
