"""``JV4QdrantVectorStore``: a LangChain vector store with late-interaction (MaxSim) search in Qdrant.

A thin adapter over :class:`~jv4_integrations.qdrant.MultiVectorCollection`: every item is encoded
once (dense vector and multi-vector from one forward pass) and stored with the payload schema that
the command line, the LlamaIndex store and ``MultiVectorCollection`` share, so all of them read and
write the same collections. Searches run in ``"hybrid"`` (dense prefetch, MaxSim rerank; default),
``"dense"`` or ``"multivector"`` (exact MaxSim) mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .._optional import require

try:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
except ImportError:  # pragma: no cover - exercised by a test that hides langchain_core
    require("langchain_core", purpose="JV4QdrantVectorStore")  # raises MissingDependencyError naming the extra
    raise

import numpy as np

from ..qdrant.collection_base import DEFAULT_COLLECTION
from ._store_async import AsyncStoreMethods
from ._store_base import candidate_ids, delete_kwargs
from ._store_support import check_mode, check_positive, open_collection, relevance
from .embeddings import JV4Embeddings, _images, _texts

if TYPE_CHECKING:
    from typing_extensions import Self

    from ..qdrant import CollectionSchema, MultiVectorCollection
    from ..qdrant.types import Mode

__all__ = ["JV4QdrantVectorStore"]


class JV4QdrantVectorStore(AsyncStoreMethods):
    """A LangChain vector store over a jv4 Qdrant collection: dense, MaxSim and hybrid search, text and images.

    Build it from an embedding and a location (this loads the model, through the process-wide
    cache), or around a collection you opened yourself. Documents come back with the id they were
    added under and exactly the metadata they went in with; images have ``page_content=""``.

    Scores: :meth:`similarity_search_with_score` gives MaxSim sums (hybrid, multivector) or cosines
    (dense); ``similarity_search_with_relevance_scores`` maps them into ``[0, 1]`` as
    ``(1 + cosine) / 2``, and ``(1 + MaxSim / query tokens) / 2``.

    Args:
        embedding: a :class:`JV4Embeddings`; its model, ``task`` and ``dimensions`` (the collection's
            dense size) are used. Other ``Embeddings`` are refused: late interaction needs the
            multi-vector of the same forward pass, which only the jv4 model gives.
        collection: an open :class:`~jv4_integrations.qdrant.MultiVectorCollection` (with an
            encoder) to use instead of ``location``; it stays the caller's to close, and the
            opening options (``collection_name``, ``schema``, ``create``, ``api_key``,
            ``check_filters``) are its own.
        location: a store directory (Qdrant's embedded engine), ``":memory:"``, a
            ``QdrantClient`` (any mode) or an ``http(s)://`` server URL.
        collection_name: the collection to open or create.
        mode: default search mode: ``"hybrid"``, ``"dense"`` or ``"multivector"``.
        prefetch_limit: default dense candidates reranked by MaxSim in hybrid mode (raised to
            ``k`` when ``k`` is larger).
        batch_size: items per forward pass when adding (default: the embedding's, else 32).
        source_key: when set, documents of points with an image reference get it in
            ``metadata[source_key]`` (unless the caller's metadata has that key). Off by default,
            so metadata round-trips exactly.
        schema: the :class:`~jv4_integrations.qdrant.CollectionSchema` to create or check; default:
            an existing collection's own, or for a new one the embedding's dense size.
        create: create the collection when it does not exist.
        api_key: API key for a server URL.
        check_filters: reject filters on metadata keys no point has.

    Raises:
        TypeError: no ``embedding``/``location`` nor ``collection``, or a non-jv4 embedding.
        SchemaMismatchError: the collection's dense size (or another setting) does not fit.

    Example:
        >>> from jv4_integrations.langchain import JV4Embeddings, JV4QdrantVectorStore
        >>> emb = JV4Embeddings(dimensions=512)
        >>> store = JV4QdrantVectorStore.from_texts(
        ...     ["Qdrant stores vectors.", "MaxSim compares every query token with every document token."],
        ...     embedding=emb, location="./jv4-data", collection_name="notes",
        ... )  # doctest: +SKIP
        >>> store.add_images(["q3-chart.png"])  # doctest: +SKIP
        >>> store.as_retriever(search_kwargs={"k": 3}).invoke("how does late interaction score?")  # doctest: +SKIP
    """

    def __init__(
        self,
        embedding: JV4Embeddings | None = None,
        *,
        collection: MultiVectorCollection | None = None,
        location: Any = None,
        collection_name: str = DEFAULT_COLLECTION,
        mode: Mode = "hybrid",
        prefetch_limit: int = 100,
        batch_size: int | None = None,
        source_key: str | None = None,
        schema: CollectionSchema | None = None,
        create: bool = True,
        api_key: str | None = None,
        check_filters: bool = True,
    ) -> None:
        self._mode = check_mode(mode)
        self._prefetch_limit = check_positive(prefetch_limit, "prefetch_limit")
        if batch_size is not None:
            check_positive(batch_size, "batch_size")
        if source_key is not None and (not isinstance(source_key, str) or not source_key):
            raise ValueError(f"source_key must be a non-empty str or None, got {source_key!r}")
        if embedding is not None:
            embedding = _jv4_embeddings(embedding)
        if collection is not None:
            given = [n for n, v in (("location", location), ("schema", schema), ("api_key", api_key)) if v is not None]
            if collection_name not in (DEFAULT_COLLECTION, collection.name):
                given.append("collection_name")
            if given:
                raise ValueError(f"pass collection= or location= (with {given}), not both")
            embedding = _embedding_for(collection, embedding)
            self._owns_collection = False
        else:
            if embedding is None or location is None:
                raise TypeError(
                    "JV4QdrantVectorStore needs embedding=JV4Embeddings(...) and location= (a store directory, "
                    "':memory:', a QdrantClient or an http(s):// URL), or collection=MultiVectorCollection(...)"
                )
            encoder = embedding.encoder
            embedding._options(encoder, query=False)  # a task or dimensions the checkpoint lacks fail here
            collection = open_collection(
                location, collection_name, encoder=encoder, dense_size=embedding.dimensions or encoder.dim,
                task=embedding.task or encoder.default_task, schema=schema, create=create, api_key=api_key,
                check_filters=check_filters,
            )  # fmt: skip
            self._owns_collection = True
        self._collection = collection
        self._embedding = embedding
        self._batch_size = batch_size or embedding.batch_size or 32
        self._source_key = source_key

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> Self:
        """Open (or create) a collection and add ``texts`` to it.

        Args:
            texts: the texts.
            embedding: a :class:`JV4Embeddings`.
            metadatas: one metadata dict per text.
            ids: one id per text (``None`` entries get a new UUID).
            **kwargs: the constructor's keyword arguments (``location``, ``collection_name``, ``mode``...).

        Returns:
            The store.

        Example:
            >>> texts = ["Qdrant stores vectors.", "MaxSim scores token by token."]
            >>> store = JV4QdrantVectorStore.from_texts(texts, embedding=emb, location=":memory:")  # doctest: +SKIP
        """
        store = cls(embedding=_jv4_embeddings(embedding), **kwargs)
        try:
            store.add_texts(texts, metadatas, ids=ids)
        except BaseException:
            store.close()
            raise
        return store

    # -- adding ----------------------------------------------------------------------------------

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Encode texts as documents (both vectors, one forward pass) and upsert them.

        Args:
            texts: non-empty strings.
            metadatas: one metadata dict per text, stored verbatim.
            ids: one id per text; ``None`` entries (and no list) get a new UUID. Adding again with
                the same ids replaces those documents.
            **kwargs: ``batch_size``, ``show_progress``.

        Returns:
            The ids, in input order.

        Raises:
            InputError: non-string or empty texts, each named by index.
        """
        items = _texts(texts, allow_empty=False)
        return self._collection.add(items, **self._add_kwargs(len(items), metadatas, ids, kwargs, "add_texts"))

    def add_images(
        self,
        uris_or_images: Sequence[Any],
        metadatas: list[dict[str, Any]] | None = None,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Encode images as documents and upsert them; text queries find them next to the texts.

        Paths and URIs are stored as the point's image reference (``source``), never as pixels.
        The documents read back have ``page_content=""`` and the given metadata.

        Args:
            uris_or_images: paths or ``file:`` / ``data:`` URIs (``http(s)`` with
                ``JV4Embeddings(allow_urls=True)``), ``pathlib.Path``, PIL images, ``bytes`` or
                :class:`~jv4_integrations.ImageRef`.
            metadatas: one metadata dict per image.
            ids: one id per image (``None`` entries get a new UUID).
            **kwargs: ``batch_size``, ``show_progress``.

        Returns:
            The ids, in input order.

        Example:
            >>> store.add_images(["q3-chart.png"], metadatas=[{"report": "q3"}])  # doctest: +SKIP
            ['5b0c…']
        """
        items = _images(uris_or_images)
        return self._collection.add(items, **self._add_kwargs(len(items), metadatas, ids, kwargs, "add_images"))

    # -- reading and deleting --------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents by id, in request order; ids not stored are skipped (no error)."""
        return [self._document(p) for p in self._collection.get(list(ids))]

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete documents by id (missing ids are ignored), or by ``filter=`` or ``doc_ids=``.

        Returns ``True``. Nothing is deleted without one of them (there is no implicit "delete all").
        """
        self._collection.delete(**delete_kwargs(ids, kwargs))
        return True

    # -- similarity search -----------------------------------------------------------------------

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """The ``k`` documents most similar to a text query.

        Args:
            query: the query text (encoded once with the query prompt).
            k: documents wanted.
            **kwargs: ``mode`` (``"hybrid"``, ``"dense"``, ``"multivector"``; default: the store's),
                ``filter`` (a dict on metadata keys or a ``qdrant_client.models.Filter``),
                ``prefetch_limit``, ``score_threshold`` (on the raw score), ``hnsw_ef``.

        Example:
            >>> store.similarity_search("revenue by region", k=3, filter={"year": 2024})  # doctest: +SKIP
        """
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    def similarity_search_with_score(self, query: str, k: int = 4, **kwargs: Any) -> list[tuple[Document, float]]:
        """:meth:`similarity_search` with raw scores: MaxSim sums (hybrid, multivector) or cosines (dense)."""
        options, vectors = self._query(query, k, kwargs, "similarity_search_with_score")
        return [(self._document(h), h.score) for h in self._run_search(options, vectors)]

    def _similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        # Relevance in [0, 1]: (1 + cosine) / 2 in dense mode, (1 + MaxSim / query tokens) / 2 otherwise.
        options, vectors = self._query(query, k, kwargs, "similarity_search_with_relevance_scores")
        hits = self._run_search(options, vectors)
        return [(self._document(h), relevance(h.score, options.mode, vectors.n_tokens)) for h in hits]

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, **kwargs: Any) -> list[Document]:
        """The ``k`` documents nearest to a dense vector (e.g. ``embeddings.embed_query(...)``), in dense mode.

        A LangChain embedding is one dense vector; the multi-vector of its text cannot be recovered
        from it, so this search is dense only. For hybrid search with precomputed vectors use
        ``store.collection.search_by_vector(dense=..., multivector=...)``.

        Args:
            embedding: ``dimensions`` floats.
            k: documents wanted.
            **kwargs: ``filter``, ``score_threshold``, ``hnsw_ef`` (``mode`` may only be ``"dense"``).
        """
        options = self._vector_options(kwargs, k, "similarity_search_by_vector")
        hits = self._collection.search_by_vector(dense=np.asarray(embedding, np.float32), **options.collection_kwargs())
        return [self._document(h) for h in hits]

    # -- maximal marginal relevance --------------------------------------------------------------

    def max_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        """Relevant and diverse documents: ``fetch_k`` candidates by the search mode, then MMR on dense cosine.

        The candidates are the store's (or the call's) ``mode`` top ``fetch_k``; MMR then picks
        ``k`` of them, trading cosine similarity to the query's dense vector against cosine
        similarity to the documents already picked. ``lambda_mult=1`` returns the candidates in
        dense-cosine order; ``0`` maximises diversity.

        Args:
            query: the query text.
            k: documents wanted.
            fetch_k: candidates (at least ``k`` are fetched).
            lambda_mult: between 0 (diverse) and 1 (relevant).
            **kwargs: as in :meth:`similarity_search`.

        Example:
            >>> store.max_marginal_relevance_search("battery", k=3, fetch_k=20, lambda_mult=0.3)  # doctest: +SKIP
        """
        options, vectors = self._query(
            query, self._mmr_limit(k, fetch_k, lambda_mult), kwargs, "max_marginal_relevance_search", mmr=True
        )
        hits = self._run_search(options, vectors)
        points = self._collection.get(candidate_ids(hits), with_vectors=True) if hits else []
        return self._mmr(vectors.dense, hits, points, k, lambda_mult)

    def max_marginal_relevance_search_by_vector(
        self, embedding: list[float], k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        """MMR from a dense vector: dense-mode candidates, then MMR on dense cosine."""
        dense = np.asarray(embedding, np.float32)
        options = self._vector_options(
            kwargs, self._mmr_limit(k, fetch_k, lambda_mult), "max_marginal_relevance_search_by_vector"
        )
        hits = self._collection.search_by_vector(dense=dense, **options.collection_kwargs())
        points = self._collection.get(candidate_ids(hits), with_vectors=True) if hits else []
        return self._mmr(dense, hits, points, k, lambda_mult)


def _jv4_embeddings(embedding: Any) -> JV4Embeddings:
    if not isinstance(embedding, JV4Embeddings):
        raise TypeError(
            f"JV4QdrantVectorStore needs a JV4Embeddings, got {type(embedding).__name__}: late interaction "
            "needs the multi-vector of the same forward pass; for dense vectors of another model use "
            "langchain_qdrant.QdrantVectorStore"
        )
    return embedding


def _embedding_for(collection: MultiVectorCollection, embedding: JV4Embeddings | None) -> JV4Embeddings:
    """The embedding of a store built around an open collection (checked against it, or made from it)."""
    encoder = collection.encoder
    if encoder is None:
        raise ValueError(
            f"collection {collection.name!r} was opened without an encoder; open it with encoder=... "
            "(e.g. JV4Embeddings(...).encoder) to search it with text"
        )
    dense_size = collection.schema.dense_size
    if embedding is None:
        return JV4Embeddings.from_encoder(encoder, dimensions=dense_size, task=collection.task)
    problems = []
    if embedding.encoder is not encoder:
        problems.append("the embedding's encoder is not the collection's (pass embedding.encoder when opening it)")
    if (embedding.dimensions or encoder.dim) != dense_size:
        problems.append(f"dimensions {embedding.dimensions or encoder.dim} != the collection's dense size {dense_size}")
    if (embedding.task or encoder.default_task) != collection.task:
        problems.append(f"task {embedding.task or encoder.default_task!r} != the collection's {collection.task!r}")
    if problems:
        raise ValueError(f"embedding does not fit collection {collection.name!r}: " + "; ".join(problems))
    return embedding
