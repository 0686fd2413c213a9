"""Loading the published checkpoint with stock transformers + peft, every tensor accounted for.

Steps: find the files (safetensors only), read the config without remote code, build the stock
Qwen2.5-VL modules, rename the legacy keys (``model.*`` -> ``model.language_model.*``,
``visual.*`` -> ``model.visual.*``) and copy every tensor after checking names and shapes, then
map the three-task LoRA bundle onto three stock peft adapters named after the tasks. Any missing,
unexpected or mis-shaped tensor raises :class:`CheckpointError` naming it; nothing is left random.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import CheckpointError
from .config import TASKS, JV4Settings, build_qwen_config, load_json, read_settings
from .device import Placement
from .memory import warn_if_short
from .model import JV4Module

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
#: LoRA targets in the transformers-5 module tree: anchored on the language model, never vision.
LORA_TARGET_REGEX = (
    r"model\.language_model\.layers\.\d+\.(self_attn\.(q_proj|k_proj|v_proj|o_proj)|mlp\.(gate_proj|up_proj|down_proj))"
    r"|multi_vector_projector"
)
#: Published keys the encoder deliberately does not use (the vocabulary projection).
_IGNORED_KEYS = frozenset({"lm_head.weight"})
_MERGED_NAME = re.compile(r"(retrieval|text-matching|code)$")


@dataclass(frozen=True)
class CheckpointFiles:
    """The files of one checkpoint directory.

    Attributes:
        root: the directory.
        weights: the safetensors shards of the backbone (and projector).
        adapter_config: ``adapters/adapter_config.json`` (``None`` for merged variants).
        adapter_weights: ``adapters/adapter_model.safetensors`` (``None`` for merged variants).
    """

    root: Path
    weights: tuple[Path, ...]
    adapter_config: Path | None
    adapter_weights: Path | None


def _refuse_pickles(directory: Path, what: str) -> None:
    pickles = sorted(p.name for p in directory.iterdir() if p.suffix in _PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointError(
            f"{directory} has {what} only as pickle files {pickles}; pickle weights can run arbitrary code "
            "and are refused. Convert them to safetensors (safetensors.torch.save_file) first"
        )


def locate_files(root: Path) -> CheckpointFiles:
    """Find the checkpoint's weight and adapter files, refusing pickle weights.

    Args:
        root: checkpoint directory.

    Returns:
        The files.
    """
    if not (root / "config.json").is_file():
        raise CheckpointError(f"{root} has no config.json; is it a jina-embeddings-v4 checkpoint directory?")
    index = root / "model.safetensors.index.json"
    if index.is_file():
        weight_map = load_json(index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(f"{index} has no weight_map")
        names = sorted(set(weight_map.values()))
        missing = [n for n in names if not (root / n).is_file()]
        if missing:
            raise CheckpointError(f"weight shards listed in {index.name} are missing: {missing}")
        weights = tuple(root / n for n in names)
    else:
        weights = tuple(sorted(root.glob("*.safetensors")))
    if not weights:
        _refuse_pickles(root, "weights")
        raise CheckpointError(f"{root} holds no *.safetensors weights")
    adapters = root / "adapters"
    adapter_config = adapter_weights = None
    if adapters.is_dir():
        adapter_config = adapters / "adapter_config.json"
        adapter_weights = adapters / "adapter_model.safetensors"
        if not adapter_weights.is_file():
            _refuse_pickles(adapters, "adapter weights")
            raise CheckpointError(f"{adapters} has no adapter_model.safetensors")
        if not adapter_config.is_file():
            raise CheckpointError(f"{adapters} has no adapter_config.json")
    return CheckpointFiles(root=root, weights=weights, adapter_config=adapter_config, adapter_weights=adapter_weights)


def runtime_key(key: str) -> str:
    """Map a published (legacy Qwen2.5-VL) key to the transformers-5 module tree of :class:`JV4Module`.

    ``model.X`` -> ``model.language_model.X``; ``visual.X`` -> ``model.visual.X``; keys already in
    the new layout and ``multi_vector_projector.*`` are unchanged.
    """
    if key.startswith(("model.language_model.", "model.visual.")):
        return key
    if key.startswith("visual."):
        return "model." + key
    if key.startswith("model."):
        return "model.language_model." + key[len("model.") :]
    return key


def _shapes_in(files: Iterable[Path]) -> dict[str, tuple[tuple[int, ...], Path, str]]:
    """Checkpoint key -> (shape, file, key) without reading tensor data."""
    from safetensors import safe_open

    found: dict[str, tuple[tuple[int, ...], Path, str]] = {}
    for path in files:
        try:
            with safe_open(str(path), framework="pt") as handle:
                for key in handle.keys():  # noqa: SIM118 - safe_open has no __iter__
                    if key in found:
                        raise CheckpointError(f"tensor {key!r} appears in both {found[key][1].name} and {path.name}")
                    found[key] = (tuple(handle.get_slice(key).get_shape()), path, key)
        except CheckpointError:
            raise
        except Exception as exc:  # safetensors raises its own error types for corrupt headers
            raise CheckpointError(f"cannot read {path}: {exc}") from exc
    return found


def weight_bytes(files: CheckpointFiles, dtype: torch.dtype) -> int:
    """Bytes every tensor of the checkpoint (backbone, projector, adapters) takes in ``dtype``."""
    paths = list(files.weights) + ([files.adapter_weights] if files.adapter_weights is not None else [])
    return sum(math.prod(shape) for shape, _, _ in _shapes_in(paths).values()) * dtype.itemsize


def _report(what: str, missing: list[str], unexpected: list[str], mismatched: list[str]) -> None:
    if not (missing or unexpected or mismatched):
        return

    def cut(items: list[str]) -> str:
        shown = ", ".join(items[:12])
        return shown + (f", … ({len(items) - 12} more)" if len(items) > 12 else "")

    parts = []
    if missing:
        parts.append(f"{len(missing)} missing: {cut(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected: {cut(unexpected)}")
    if mismatched:
        parts.append(f"{len(mismatched)} with the wrong shape: {cut(mismatched)}")
    raise CheckpointError(f"{what} do not match the published jina-embeddings-v4 layout: " + "; ".join(parts))


def copy_verified(
    target: Mapping[str, torch.Tensor],
    found: dict[str, tuple[tuple[int, ...], Path, str]],
    what: str,
) -> None:
    """Check that ``found`` covers ``target`` exactly (names and shapes), then copy every tensor.

    Args:
        target: runtime name -> parameter or buffer to fill.
        found: runtime name -> (shape, file, key in the file).
        what: for the error message ("backbone weights", "adapter weights").
    """
    from safetensors import safe_open

    missing = sorted(set(target) - set(found))
    unexpected = sorted(f"{found[k][2]} (in {found[k][1].name})" for k in set(found) - set(target))
    mismatched = sorted(
        f"{found[k][2]}: checkpoint {list(found[k][0])} vs model {list(target[k].shape)}"
        for k in set(found) & set(target)
        if tuple(target[k].shape) != found[k][0]
    )
    _report(what, missing, unexpected, mismatched)
    by_file: dict[Path, list[str]] = {}
    for name, (_, path, _) in found.items():
        by_file.setdefault(path, []).append(name)
    with torch.no_grad():
        for path, names in by_file.items():
            with safe_open(str(path), framework="pt") as handle:
                for name in names:
                    target[name].copy_(handle.get_tensor(found[name][2]))


def load_backbone(
    files: CheckpointFiles, settings: JV4Settings, raw_config: dict[str, Any], dtype: torch.dtype
) -> JV4Module:
    """Build :class:`JV4Module` and fill every parameter from the safetensors shards.

    Args:
        files: the located files.
        settings: Jina settings (projector width).
        raw_config: the parsed ``config.json``.
        dtype: parameter dtype.

    Returns:
        The module on the CPU, in eval mode.
    """
    module = JV4Module(build_qwen_config(raw_config), settings.multivector_dim, dtype)
    raw = _shapes_in(files.weights)
    found: dict[str, tuple[tuple[int, ...], Path, str]] = {}
    for key, value in raw.items():
        if key in _IGNORED_KEYS:
            logger.debug("ignoring %s (the vocabulary projection is never used for embeddings)", key)
            continue
        found[runtime_key(key)] = value
    copy_verified(dict(module.named_parameters()), found, "backbone weights")
    return module.eval()


def _read_adapter_config(path: Path) -> tuple[int, float]:
    cfg = load_json(path)
    problems = []
    if cfg.get("peft_type") != "LORA":
        problems.append(f"peft_type {cfg.get('peft_type')!r} (expected 'LORA')")
    for flag in ("use_dora", "use_rslora", "fan_in_fan_out"):
        if cfg.get(flag):
            problems.append(f"{flag}=true is not supported")
    if cfg.get("bias", "none") != "none":
        problems.append(f"bias {cfg.get('bias')!r} (expected 'none')")
    r, alpha = cfg.get("r"), cfg.get("lora_alpha")
    if not isinstance(r, int) or r <= 0 or not isinstance(alpha, (int, float)):
        problems.append(f"r={r!r}, lora_alpha={alpha!r} (expected a positive int and a number)")
    if problems:
        raise CheckpointError(f"{path}: unsupported adapter settings: {'; '.join(problems)}")
    return int(r), float(alpha)  # type: ignore[arg-type]


def attach_adapters(module: JV4Module, files: CheckpointFiles, settings: JV4Settings) -> nn.Module:
    """Wrap the module in stock peft with one LoRA adapter per task, filled from the bundle.

    The bundle's keys (``base_model.model.<module>.lora_{A,B}.<task>.weight``) are exactly the
    parameter names of the peft wrapper, so each one is checked and copied one to one.

    Returns:
        The ``peft.PeftModel``, in eval mode (dropout off, LoRA unmerged).
    """
    from peft import LoraConfig, PeftModel

    assert files.adapter_config is not None and files.adapter_weights is not None
    rank, alpha = _read_adapter_config(files.adapter_config)
    lora = LoraConfig(
        r=rank,
        lora_alpha=alpha,  # type: ignore[arg-type]  # peft annotates int; floats work
        lora_dropout=0.0,
        bias="none",
        target_modules=LORA_TARGET_REGEX,
        exclude_modules=r".*visual.*",
        inference_mode=True,
    )
    tasks = settings.tasks
    peft_model = PeftModel(module, lora, adapter_name=tasks[0])
    for task in tasks[1:]:
        peft_model.add_adapter(task, lora)
    params = {n: p for n, p in peft_model.named_parameters() if ".lora_" in n}
    leaked = [n for n in params if ".visual." in n]
    if leaked:  # pragma: no cover - guards a peft matching change
        raise CheckpointError(f"LoRA was attached to the vision tower: {leaked[:3]}")
    copy_verified(params, _shapes_in([files.adapter_weights]), "adapter weights")
    return peft_model.eval()


def infer_merged_task(name_or_path: str) -> str | None:
    """The task of a merged variant from its name (``…-vllm-retrieval`` -> ``"retrieval"``)."""
    match = _MERGED_NAME.search(name_or_path.rstrip("/\\"))
    return match.group(1) if match else None


@dataclass
class LoadedCheckpoint:
    """A loaded model with everything needed to prepare its inputs."""

    model: nn.Module
    settings: JV4Settings
    tokenizer: PreTrainedTokenizerBase
    image_processor: Any
    files: CheckpointFiles


def load_tokenizer(root: Path) -> PreTrainedTokenizerBase:
    """The Qwen2 tokenizer of the checkpoint, built directly (never through remote code)."""
    from transformers import Qwen2Tokenizer

    if not (root / "tokenizer.json").is_file() and not (root / "vocab.json").is_file():
        raise CheckpointError(f"{root} has no tokenizer files (tokenizer.json or vocab.json + merges.txt)")
    try:
        # fix_mistral_regex=False: transformers 5 mistakes a config.json without model_type written by
        # transformers 4.x (the published one) for a Mistral checkpoint and warns about its regex
        tok = Qwen2Tokenizer.from_pretrained(str(root), trust_remote_code=False, fix_mistral_regex=False)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot load the tokenizer from {root}: {exc}") from exc
    tok.padding_side = "right"
    return tok


def load_image_processor(root: Path) -> Any:
    """The Qwen2-VL image processor: the torchvision one when torchvision works, else the PIL one."""
    from .._optional import is_available

    pre = root / "preprocessor_config.json"
    if not pre.is_file():
        raise CheckpointError(f"{root} has no preprocessor_config.json")
    settings = {
        k: v for k, v in load_json(pre).items() if k not in ("auto_map", "processor_class", "image_processor_type")
    }
    cls: Any = None
    if is_available("torchvision"):
        try:
            from transformers import Qwen2VLImageProcessor

            cls = Qwen2VLImageProcessor
            return cls(**settings)
        except Exception:  # torchvision wheels that do not match torch fail at import time
            logger.info("torchvision is installed but unusable; using the PIL image processor")
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(**settings)


def load_checkpoint(root: Path, placement: Placement, *, merged_task: str | None, name: str) -> LoadedCheckpoint:
    """Load everything from a local checkpoint directory.

    Args:
        root: the directory.
        placement: device, dtype and precision.
        merged_task: task of a merged variant (``None``: infer from the name).
        name: the name the user asked for (for messages and task inference).

    Returns:
        The loaded checkpoint, on ``placement.device``.
    """
    files = locate_files(root)
    raw = load_json(root / "config.json")
    has_adapters = files.adapter_weights is not None
    if not has_adapters:
        merged_task = merged_task or infer_merged_task(name) or infer_merged_task(root.name)
        if merged_task is not None and merged_task not in TASKS:
            raise ValueError(f"unknown task {merged_task!r}; expected one of {list(TASKS)}")
        if merged_task is None:
            raise CheckpointError(
                f"{name!r} has no adapters/ folder, so it is a merged single-task variant, but its task is unknown; "
                f"pass merged_task= one of {list(TASKS)}"
            )
    settings = read_settings(raw, has_adapters=has_adapters, merged_task=merged_task)
    logger.info("loading %s (%s, %s, precision=%s)", name, placement.device, placement.dtype, placement.precision)
    warn_if_short(weight_bytes(files, placement.torch_dtype), placement, name)
    module = load_backbone(files, settings, raw, placement.torch_dtype)
    model: nn.Module = attach_adapters(module, files, settings) if has_adapters else module
    tokenizer = load_tokenizer(root)
    image_processor = load_image_processor(root)
    model.to(placement.device)
    model.requires_grad_(False)
    return LoadedCheckpoint(
        model=model, settings=settings, tokenizer=tokenizer, image_processor=image_processor, files=files
    )


def describe(settings: JV4Settings) -> str:
    """One line about a loaded checkpoint (for logs and ``jv4 info``)."""
    kind = f"adapters {list(settings.tasks)}" if settings.tasks else f"merged task {settings.merged_task!r}"
    return json.dumps({"hidden": settings.hidden_size, "kind": kind, "multivector_dim": settings.multivector_dim})
