"""Reading the published ``config.json`` into typed settings and a stock ``Qwen2_5_VLConfig``.

The published config has no top-level ``model_type`` (so ``AutoConfig`` cannot dispatch it) and
carries Jina's own keys next to the Qwen2.5-VL ones. :func:`read_checkpoint_config` splits the two:
the Jina settings become a frozen :class:`JV4Settings`, the rest a ``Qwen2_5_VLConfig`` built
explicitly (never through remote code).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError

if TYPE_CHECKING:
    from transformers import Qwen2_5_VLConfig

logger = logging.getLogger(__name__)

#: Tasks of the published checkpoint, in its order.
TASKS: tuple[str, ...] = ("retrieval", "text-matching", "code")
#: Prompt roles accepted by the encode API.
PROMPTS: tuple[str, ...] = ("query", "passage")

#: Keys of config.json that belong to Jina's wrapper, not to Qwen2.5-VL.
_JINA_KEYS = frozenset(
    {
        "architectures",
        "auto_map",
        "task_names",
        "matryoshka_dims",
        "multi_vector_projector_dim",
        "single_vector_pool_strategy",
        "truncate_dim",
        "_attn_implementation",
        "attn_implementation",
        "_name_or_path",
        "transformers_version",
        "torch_dtype",
        "dtype",
        "model_type",
        "task",
    }
)

#: Keys that describe the text tower when written at the top level (transformers-4 layout).
_TEXT_TOP_LEVEL_KEYS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "hidden_act",
    "max_position_embeddings",
    "rms_norm_eps",
    "rope_theta",
    "rope_scaling",
    "rope_parameters",
    "use_sliding_window",
    "sliding_window",
    "max_window_layers",
    "attention_dropout",
    "initializer_range",
    "bos_token_id",
    "eos_token_id",
    "tie_word_embeddings",
)


@dataclass(frozen=True)
class JV4Settings:
    """What the encoder needs to know about a checkpoint, read from its ``config.json``.

    Attributes:
        tasks: task adapters the checkpoint provides (empty for a merged single-task variant).
        merged_task: the task baked into a merged variant (``None`` for the adapter checkpoint).
        matryoshka_dims: allowed dense sizes, ascending; the last one is the full hidden size.
        multivector_dim: width of a multi-vector token (0 when the checkpoint has no projector).
        hidden_size: width of the last hidden state (the full dense size).
        pool_strategy: dense pooling; only ``"mean"`` is supported.
        vision_start_token_id: ``<|vision_start|>``.
        vision_end_token_id: ``<|vision_end|>``.
        image_token_id: ``<|image_pad|>``.
        pad_token_id: the padding id (``<|endoftext|>``).
    """

    tasks: tuple[str, ...]
    merged_task: str | None
    matryoshka_dims: tuple[int, ...]
    multivector_dim: int
    hidden_size: int
    pool_strategy: str
    vision_start_token_id: int
    vision_end_token_id: int
    image_token_id: int
    pad_token_id: int

    @property
    def has_multivector(self) -> bool:
        """Whether the checkpoint has a multi-vector projector."""
        return self.multivector_dim > 0

    @property
    def available_tasks(self) -> tuple[str, ...]:
        """Tasks that can be asked for: the adapters, or the one merged task."""
        return self.tasks if self.tasks else ((self.merged_task,) if self.merged_task else ())


def load_json(path: Path) -> dict[str, Any]:
    """Read a JSON object from ``path`` or raise :class:`CheckpointError` saying why not."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path.name} is missing from {path.parent}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a JSON object")
    return data


def _rope_parameters(text: dict[str, Any]) -> dict[str, Any]:
    """Translate transformers-4 ``rope_scaling`` + ``rope_theta`` into ``rope_parameters``."""
    if isinstance(text.get("rope_parameters"), dict):
        params = dict(text["rope_parameters"])
    else:
        scaling = dict(text.get("rope_scaling") or {})
        params = {k: v for k, v in scaling.items() if k != "type"}
        params.setdefault("rope_type", "default")
        if "rope_theta" in text:
            params["rope_theta"] = text["rope_theta"]
    if "mrope_section" not in params:
        raise CheckpointError("config.json: the text rope settings have no 'mrope_section'")
    return params


def build_qwen_config(raw: dict[str, Any]) -> Qwen2_5_VLConfig:
    """Build a stock ``Qwen2_5_VLConfig`` from a published (or stock) Qwen2.5-VL config dict.

    Args:
        raw: the parsed ``config.json``.

    Returns:
        The config, with the Jina-only keys removed and the rope settings in transformers-5 form.
    """
    from transformers import Qwen2_5_VLConfig
    from transformers.utils import logging as hf_logging

    vision = raw.get("vision_config")
    if not isinstance(vision, dict):
        raise CheckpointError("config.json has no 'vision_config' object")
    text: dict[str, Any] = {k: raw[k] for k in _TEXT_TOP_LEVEL_KEYS if k in raw}
    if isinstance(raw.get("text_config"), dict):
        text.update(raw["text_config"])
    missing = [k for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size") if k not in text]
    if missing:
        raise CheckpointError(f"config.json: text settings {missing} are missing")
    text["rope_parameters"] = _rope_parameters(text)
    text.pop("rope_scaling", None)
    text.pop("rope_theta", None)
    for key in ("torch_dtype", "dtype", "architectures", "transformers_version", "_name_or_path"):
        text.pop(key, None)
    text["model_type"] = "qwen2_5_vl_text"
    vision = {k: v for k, v in vision.items() if k not in ("torch_dtype", "dtype", "transformers_version")}
    vision["model_type"] = "qwen2_5_vl_vision"
    head_dim = int(text["hidden_size"]) // int(text["num_attention_heads"])
    if sum(text["rope_parameters"]["mrope_section"]) * 2 != head_dim:
        raise CheckpointError(
            f"config.json: mrope_section {text['rope_parameters']['mrope_section']} must sum to "
            f"head_dim/2 = {head_dim // 2}"
        )
    top = {
        k: v
        for k, v in raw.items()
        if k not in _JINA_KEYS and k not in _TEXT_TOP_LEVEL_KEYS and k not in ("text_config", "vision_config")
    }
    top["tie_word_embeddings"] = bool(raw.get("tie_word_embeddings", text.get("tie_word_embeddings", True)))
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # transformers warns about the (valid) mrope_section key
    try:
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **top)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"config.json is not a valid Qwen2.5-VL config: {exc}") from exc
    finally:
        hf_logging.set_verbosity(previous)


def read_settings(raw: dict[str, Any], *, has_adapters: bool, merged_task: str | None) -> JV4Settings:
    """Read Jina's keys (with checks) from a parsed ``config.json``.

    Args:
        raw: the parsed config.
        has_adapters: whether the checkpoint ships the ``adapters/`` bundle.
        merged_task: for a merged variant, its task (from the caller or the repository name).

    Returns:
        The settings.
    """
    text = dict(raw.get("text_config") or {})
    hidden = int(raw.get("hidden_size") or text.get("hidden_size") or 0)
    if hidden <= 0:
        raise CheckpointError("config.json: hidden_size is missing")
    tasks: tuple[str, ...] = ()
    if has_adapters:
        names = raw.get("task_names")
        if not isinstance(names, list) or not names:
            raise CheckpointError("config.json: 'task_names' is missing although adapters/ exists")
        unknown = [t for t in names if t not in TASKS]
        if unknown:
            raise CheckpointError(f"config.json: unknown task names {unknown}; expected a subset of {list(TASKS)}")
        tasks = tuple(names)
        merged_task = None
    elif merged_task is None:
        merged_task = raw.get("task") if raw.get("task") in TASKS else None
    dims_raw = raw.get("matryoshka_dims")
    if isinstance(dims_raw, list) and dims_raw:
        dims = tuple(sorted(int(d) for d in dims_raw))
    else:  # merged variants carry no list; the published one scales with the hidden size
        dims = tuple(sorted({hidden // 16, hidden // 8, hidden // 4, hidden // 2, hidden} - {0}))
    if dims[-1] != hidden or dims[0] <= 0:
        raise CheckpointError(f"config.json: matryoshka_dims {list(dims)} must be positive and end at {hidden}")
    strategy = str(raw.get("single_vector_pool_strategy", "mean"))
    if strategy != "mean":
        raise CheckpointError(f"config.json: single_vector_pool_strategy {strategy!r} is not supported (only 'mean')")
    mv_dim = int(raw.get("multi_vector_projector_dim", 0) or 0) if has_adapters else 0
    return JV4Settings(
        tasks=tasks,
        merged_task=merged_task,
        matryoshka_dims=dims,
        multivector_dim=mv_dim,
        hidden_size=hidden,
        pool_strategy=strategy,
        vision_start_token_id=int(raw.get("vision_start_token_id", 151652)),
        vision_end_token_id=int(raw.get("vision_end_token_id", 151653)),
        image_token_id=int(raw.get("image_token_id", 151655)),
        pad_token_id=int(raw.get("pad_token_id") or raw.get("bos_token_id") or 151643),
    )
