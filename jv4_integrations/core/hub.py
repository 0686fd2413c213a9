"""Resolving a model name: a local directory, or a Hugging Face Hub repository id (downloaded once).

Only the files the loader reads are downloaded: JSON settings, safetensors weights (the adapter
bundle included) and tokenizer files. Pickle weights are never fetched.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from ..errors import CheckpointError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "jinaai/jina-embeddings-v4"
#: Files a checkpoint needs (huggingface_hub ``allow_patterns``).
ALLOW_PATTERNS: tuple[str, ...] = (
    "*.json",
    "*.safetensors",
    "adapters/*.json",
    "adapters/*.safetensors",
    "tokenizer*",
    "vocab.json",
    "merges.txt",
)
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_TRUE = {"1", "true", "yes", "on"}


def _offline_from_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def _local_copy_hint(repo_id: str) -> str:
    return (
        f"download it where the Hub is reachable (`hf download {repo_id} --local-dir ./{repo_id.split('/')[-1]}`), "
        f"copy the folder here and pass its path: JV4Encoder.from_pretrained('./{repo_id.split('/')[-1]}') "
        f"(or `jv4 ... --model ./{repo_id.split('/')[-1]}`)"
    )


def resolve_checkpoint_dir(
    name_or_path: str | os.PathLike[str],
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool | None = None,
) -> Path:
    """Return a local directory holding the checkpoint, downloading from the Hub when needed.

    Args:
        name_or_path: a local directory, or a Hub repository id such as ``"jinaai/jina-embeddings-v4"``.
        revision: a branch, tag or commit of the Hub repository.
        cache_dir: the Hugging Face cache directory (default: the usual ``HF_HOME`` location).
        local_files_only: only use the cache; ``None`` follows ``HF_HUB_OFFLINE``.

    Returns:
        The checkpoint directory.

    Raises:
        CheckpointError: the path is not a directory, the id is malformed, the repository or
            revision does not exist, or the Hub cannot be reached and nothing is cached.
    """
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"{text!r} is a file; pass the checkpoint directory that holds config.json")
    if text.startswith((".", "/", "~")) or os.sep in text.replace("/", "") or not _REPO_ID.match(text):
        raise CheckpointError(
            f"{text!r} is neither an existing local directory nor a Hub repository id like {DEFAULT_MODEL!r}"
        )
    offline = _offline_from_env() if local_files_only is None else bool(local_files_only)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    logger.info(
        "resolving %s (revision %s) through the Hugging Face Hub%s",
        text,
        revision or "main",
        " cache only" if offline else "",
    )
    try:
        local = snapshot_download(
            repo_id=text,
            revision=revision,
            cache_dir=os.fspath(cache_dir) if cache_dir is not None else None,
            local_files_only=offline,
            allow_patterns=list(ALLOW_PATTERNS),
        )
    except GatedRepoError as exc:
        raise CheckpointError(f"{text!r} is gated: log in with `hf auth login` after accepting its terms") from exc
    except RevisionNotFoundError as exc:
        raise CheckpointError(f"revision {revision!r} of {text!r} does not exist on the Hub") from exc
    except RepositoryNotFoundError as exc:
        raise CheckpointError(f"{text!r} does not exist on the Hugging Face Hub (or is private)") from exc
    except LocalEntryNotFoundError as exc:
        why = "offline mode is on (HF_HUB_OFFLINE / local_files_only)" if offline else "the Hub cannot be reached"
        raise CheckpointError(f"{text!r} is not in the local cache and {why}; {_local_copy_hint(text)}") from exc
    except OSError as exc:  # network errors surface as OSError subclasses (requests / httpx)
        raise CheckpointError(
            f"could not download {text!r} from the Hugging Face Hub ({exc.__class__.__name__}: {exc}); "
            f"{_local_copy_hint(text)}"
        ) from exc
    return Path(local)
