"""The forward numerics of the format doc (sections 3-4), checked against hand computations."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from jv4_integrations import JV4Encoder, Mixed
from jv4_integrations.core.engine import Engine, Job
from jv4_integrations.core.inputs import prepare_items
from jv4_integrations.core.model import Numerics, matryoshka, mean_pool, normalize, token_vectors, unpad
from jv4_integrations.core.preprocess import PREFIXES

VS, VE, PAD_IMG = 151652, 151653, 151655


def _ids(encoder: JV4Encoder, text: str) -> list[int]:
    return encoder._builder.tokenizer(text, add_special_tokens=False)["input_ids"]  # type: ignore[no-any-return]


# -- prompts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "prompt", "prefix"),
    [
        ("retrieval", "query", "Query: "),
        ("retrieval", "passage", "Passage: "),
        ("text-matching", "query", "Query: "),
        ("text-matching", "passage", "Query: "),
        ("code", "query", "Query: "),
        ("code", "passage", "Passage: "),
    ],
)
def test_text_rows_are_prefix_plus_text(encoder: JV4Encoder, task: str, prompt: str, prefix: str) -> None:
    assert PREFIXES[task][prompt] == prefix
    rows = encoder._builder.build(
        prepare_items(["def add(a, b): return a + b"]), prompt=prompt, task=task, max_length=32768, max_pixels=None
    )
    assert rows[0].input_ids == _ids(encoder, prefix + "def add(a, b): return a + b")
    assert (rows[0].pool_start, rows[0].pool_end) == (0, len(rows[0].input_ids))


def test_text_matching_is_symmetric(encoder: JV4Encoder) -> None:
    texts = ["a cat sits on the mat", "ein Hund"]
    q = encoder.encode_queries(texts, task="text-matching")
    d = encoder.encode_documents(texts, task="text-matching")
    np.testing.assert_array_equal(q.dense, d.dense)
    r = encoder.encode_documents(texts, task="retrieval")
    assert not np.allclose(q.dense, r.dense)


def test_image_row_is_the_published_prompt(encoder: JV4Encoder, image_factory: Any) -> None:
    rows = encoder._builder.build(
        prepare_items([image_factory(0, (56, 84))]),
        prompt="passage",
        task="retrieval",
        max_length=32768,
        max_pixels=None,
    )
    row = rows[0]
    n = 3 * 2  # 56 wide x 84 high -> 6x4 patches -> 3x2 merged tokens
    expected = _ids(
        encoder,
        "<|im_start|>user\n<|vision_start|>" + "<|image_pad|>" * n + "<|vision_end|>Describe the image.<|im_end|>\n",
    )
    assert row.input_ids == expected and row.grids == [(1, 6, 4)]
    assert row.input_ids[row.pool_start] == VS and row.input_ids[row.pool_end - 1] == VE


def test_image_rows_equal_the_stock_processor(encoder: JV4Encoder, image_factory: Any) -> None:
    """Our rows and batches match transformers' own Qwen2.5-VL processor, mm_token_type_ids included."""
    from transformers import Qwen2_5_VLProcessor

    from jv4_integrations.core.preprocess import collate

    class JinaLikeProcessor(Qwen2_5_VLProcessor):  # Jina's processor signature: no video processor
        def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None) -> None:
            super().__init__(
                image_processor=image_processor, tokenizer=tokenizer, video_processor=None, chat_template=chat_template
            )

    builder = encoder._builder
    processor = JinaLikeProcessor(builder.image_processor, builder.tokenizer)
    images = [image_factory(1, (60, 90)), image_factory(2, (120, 40))]
    prompt = "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe the image.<|im_end|>\n"
    stock = processor(text=[prompt, prompt], images=images, padding="longest", return_tensors="pt")
    rows = builder.build(prepare_items(images), prompt="passage", task="retrieval", max_length=32768, max_pixels=None)
    batch = collate(rows, builder, [None, None], "cpu")
    torch.testing.assert_close(batch.input_ids, stock["input_ids"], rtol=0, atol=0)
    torch.testing.assert_close(batch.attention_mask, stock["attention_mask"].long(), rtol=0, atol=0)
    torch.testing.assert_close(batch.pixel_values, stock["pixel_values"], rtol=0, atol=0)
    torch.testing.assert_close(batch.image_grid_thw, stock["image_grid_thw"], rtol=0, atol=0)
    torch.testing.assert_close(
        batch.mm_token_type_ids.long(), torch.as_tensor(stock["mm_token_type_ids"]).long(), rtol=0, atol=0
    )


# -- LoRA ---------------------------------------------------------------------------------------


def test_tasks_give_different_outputs(encoder: JV4Encoder) -> None:
    texts = ["late interaction keeps one vector per token"]
    outs = {t: encoder.encode_queries(texts, task=t) for t in ("retrieval", "text-matching", "code")}  # same prefix
    for a, b in [("retrieval", "text-matching"), ("retrieval", "code"), ("text-matching", "code")]:
        assert np.abs(outs[a].dense - outs[b].dense).max() > 1e-3
        assert np.abs(outs[a].multivector[0] - outs[b].multivector[0]).max() > 1e-3


@pytest.mark.parametrize("module", ["model.language_model.layers.0.self_attn.q_proj", "multi_vector_projector"])
@pytest.mark.parametrize("task", ["retrieval", "code"])
def test_lora_layer_equals_base_plus_b_a(encoder: JV4Encoder, tiny_checkpoint: Any, module: str, task: str) -> None:
    bundle = load_file(str(tiny_checkpoint / "adapters" / "adapter_model.safetensors"))
    a = bundle[f"base_model.model.{module}.lora_A.{task}.weight"].float()
    b = bundle[f"base_model.model.{module}.lora_B.{task}.weight"].float()
    layer = encoder.model.get_submodule(f"base_model.model.{module}")
    base = layer.base_layer
    x = torch.randn(3, 5, base.in_features, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        got = layer(x, adapter_names=[task] * 3)
        want = base(x) + (x @ a.T) @ b.T * 1.0  # lora_alpha / r = 1
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert (b @ a).abs().max() > 0


def test_per_sample_tasks_equal_one_task_per_call(encoder: JV4Encoder) -> None:
    """Rows of different tasks share a batch (per-sample adapters) without mixing."""
    from jv4_integrations.core.batching import DEFAULT_BATCH_SIZE, DEFAULT_MAX_TOKENS

    builder = encoder._builder
    items = prepare_items(["one text", "another text, a little longer"])
    rows = builder.build(items[:1], prompt="query", task="code", max_length=100, max_pixels=None) + builder.build(
        items[1:], prompt="query", task="text-matching", max_length=100, max_pixels=None
    )
    job = Job(rows, None, True, True, None, DEFAULT_BATCH_SIZE, DEFAULT_MAX_TOKENS)
    encoder._engine.run(job)
    code = encoder.encode_queries(["one text"], task="code")
    tm = encoder.encode_queries(["another text, a little longer"], task="text-matching")
    np.testing.assert_allclose(job.dense[0].numpy(), code.dense[0], atol=1e-5)
    np.testing.assert_allclose(job.dense[1].numpy(), tm.dense[0], atol=1e-5)
    np.testing.assert_allclose(job.multivector[0].numpy(), code.multivector[0], atol=1e-5)


# -- pooling on hand-built hidden states -----------------------------------------------------------


def test_mean_pool_on_hand_built_states() -> None:
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 1]])
    want = torch.stack([hidden[0, :2].mean(0), hidden[1, 1:].mean(0)])
    torch.testing.assert_close(mean_pool(hidden, mask, reference=False), want)
    torch.testing.assert_close(mean_pool(hidden, mask, reference=True), want)


def test_normalize_and_matryoshka() -> None:
    x = torch.tensor([[3.0, 4.0, 12.0, 0.0]])
    torch.testing.assert_close(normalize(x), x / 13.0)
    torch.testing.assert_close(matryoshka(normalize(x), 2), torch.tensor([[0.6, 0.8]]))
    assert matryoshka(x, None) is x and matryoshka(x, 4) is x


def test_token_vectors_drop_padding() -> None:
    projected = torch.tensor([[[3.0, 4.0], [1.0, 0.0], [5.0, 5.0]], [[0.0, 2.0], [9.0, 9.0], [9.0, 9.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    rows = unpad(token_vectors(projected, mask, reference=False), mask)
    torch.testing.assert_close(rows[0], torch.tensor([[0.6, 0.8], [1.0, 0.0]]))
    torch.testing.assert_close(rows[1], torch.tensor([[0.0, 1.0]]))


class _ProbeModel(nn.Module):
    """Stands in for the backbone: hidden[b, t] = (t, token id, 1); projection = hidden[..., :2] + 1."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs: Any) -> tuple[Any, Any]:
        t = torch.arange(input_ids.shape[1], dtype=torch.float32).expand_as(input_ids)
        hidden = torch.stack([t, input_ids.float(), torch.ones_like(t)], dim=-1)
        return hidden, hidden[..., :2] + 1.0


def test_engine_pools_text_image_and_mixed_rows_by_their_rules(encoder: JV4Encoder, image_factory: Any) -> None:
    engine = Engine(_ProbeModel(), encoder._builder, "cpu", Numerics(False, "cpu"), uses_adapters=False)
    items = prepare_items(["some text", image_factory(3, (56, 56)), Mixed("a caption", [image_factory(4)])])
    rows = encoder._builder.build(items, prompt="passage", task="retrieval", max_length=100, max_pixels=None)
    job = Job(rows, None, True, True, None, 64, 16384)
    engine.run(job)
    for row, dense, mv in zip(rows, job.dense, job.multivector, strict=False):
        ids = torch.tensor(row.input_ids, dtype=torch.float32)
        positions = torch.arange(len(ids), dtype=torch.float32)
        span = slice(row.pool_start, row.pool_end)
        pooled = torch.stack([positions[span].mean(), ids[span].mean(), torch.tensor(1.0)])
        torch.testing.assert_close(dense, pooled / pooled.norm())
        tokens = torch.stack([positions, ids], dim=-1) + 1.0
        torch.testing.assert_close(mv, tokens / tokens.norm(dim=-1, keepdim=True))  # every real token kept
    text, image, mixed = rows
    assert (text.pool_start, text.pool_end) == (0, len(text))
    assert text.input_ids[0] == _ids(encoder, "Passage:")[0]
    assert image.input_ids[image.pool_start] == VS and image.input_ids[image.pool_end - 1] == VE
    assert image.pool_start == 3 and len(image) - image.pool_end == len(
        _ids(encoder, "Describe the image.<|im_end|>\n")
    )
    assert mixed.input_ids[mixed.pool_start] == VS
    assert mixed.input_ids[mixed.pool_end :] == _ids(encoder, "<|im_end|>\n")
    assert mixed.input_ids[mixed.pool_end - len(_ids(encoder, "Passage: a caption")) : mixed.pool_end] == _ids(
        encoder, "Passage: a caption"
    )


# -- end to end -------------------------------------------------------------------------------------


def test_image_positions_use_the_3d_rope(encoder: JV4Encoder, image_factory: Any) -> None:
    """mm_token_type_ids reach the model: without them the image embedding drifts."""
    from jv4_integrations.core.preprocess import collate

    builder = encoder._builder
    rows = builder.build(
        prepare_items([image_factory(5, (112, 56))]),
        prompt="passage",
        task="retrieval",
        max_length=100,
        max_pixels=None,
    )
    batch = collate(rows, builder, [None], "cpu")
    with torch.inference_mode():
        with_3d, _ = encoder.model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            pixel_values=batch.pixel_values,
            image_grid_thw=batch.image_grid_thw,
            mm_token_type_ids=batch.mm_token_type_ids,
            adapter_names=["retrieval"],
        )
        without, _ = encoder.model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            pixel_values=batch.pixel_values,
            image_grid_thw=batch.image_grid_thw,
            mm_token_type_ids=None,
            adapter_names=["retrieval"],
        )
    ours = encoder.encode_documents([image_factory(5, (112, 56))]).dense[0]
    span = slice(rows[0].pool_start, rows[0].pool_end)
    expected = normalize(with_3d[0, span].mean(0)).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    assert np.abs(normalize(without[0, span].mean(0)).numpy() - expected).max() > 1e-4


def test_batched_equals_one_at_a_time(encoder: JV4Encoder, image_factory: Any) -> None:
    items = [
        "short",
        "a considerably longer text " * 9,
        image_factory(6, (56, 112)),
        "mid length text here",
        Mixed("caption", [image_factory(7)]),
        image_factory(8, (90, 60)),
    ]
    batched = encoder.encode_documents(items, batch_size=3)
    for i, item in enumerate(items):
        single = encoder.encode_documents([item])
        np.testing.assert_allclose(batched.dense[i], single.dense[0], atol=1e-5)
        np.testing.assert_allclose(batched.multivector[i], single.multivector[0], atol=1e-5)


def test_reference_precision_follows_jinas_recipe(tiny_checkpoint: Any, encoder: JV4Encoder) -> None:
    """bf16 weights, forward and pooling under bf16 autocast: same ops as Jina's code, row by row."""
    ref = JV4Encoder.from_pretrained(str(tiny_checkpoint), device="cpu", precision="reference")
    assert ref.placement.dtype == "bfloat16"
    texts = ["reference numerics", "bf16 autocast everywhere, as in the published code"]
    got = ref.encode_queries(texts, truncate_dim=32)
    builder = ref._builder
    rows = builder.build(prepare_items(texts), prompt="query", task="retrieval", max_length=100, max_pixels=None)
    width = max(len(r) for r in rows)
    ids = torch.full((2, width), 151643)
    mask = torch.zeros((2, width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r.input_ids)
        mask[i, : len(r)] = 1
    ref.model.set_adapter("retrieval")
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = ref.model.base_model.model.model(input_ids=ids, attention_mask=mask).last_hidden_state
        pooled = torch.sum(hidden * mask.unsqueeze(-1), dim=1) / torch.sum(mask, dim=1, keepdim=True)
        dense = torch.nn.functional.normalize(pooled, dim=-1)
        dense = torch.nn.functional.normalize(dense[:, :32], dim=-1)
        mv = ref.model.base_model.model.multi_vector_projector(hidden)
        mv = torch.nn.functional.normalize(mv, dim=-1) * mask.unsqueeze(-1)
    np.testing.assert_allclose(got.dense, dense.float().numpy(), atol=1e-6)
    for i in range(2):
        np.testing.assert_allclose(got.multivector[i], mv[i, : len(rows[i])].float().numpy(), atol=1e-6)
    fp32 = encoder.encode_queries(texts, truncate_dim=32).dense
    assert np.all((fp32 * got.dense).sum(axis=1) > 0.99)
