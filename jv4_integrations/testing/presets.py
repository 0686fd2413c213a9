"""Architecture presets for random checkpoints in the published jina-embeddings-v4 layout."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """Sizes of one random checkpoint.

    Attributes:
        name: preset name.
        hidden: text hidden size (= full dense size).
        intermediate: text MLP width.
        layers: text decoder layers.
        heads: attention heads; ``hidden // heads`` is the head dim.
        kv_heads: key/value heads.
        mrope_section: multimodal RoPE split; must sum to ``head_dim / 2``.
        vision_hidden: vision tower width.
        vision_intermediate: vision MLP width.
        vision_depth: vision blocks.
        vision_heads: vision attention heads (vision head dim divisible by 4).
        fullatt_blocks: vision blocks with full attention (the rest use windows).
        lora_rank: LoRA rank of every task adapter (alpha = rank, scaling 1.0).
        max_pixels: image processor pixel budget (``merged tokens * 28 * 28``).
    """

    name: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    mrope_section: tuple[int, int, int]
    vision_hidden: int
    vision_intermediate: int
    vision_depth: int
    vision_heads: int
    fullatt_blocks: tuple[int, ...]
    lora_rank: int
    max_pixels: int

    @property
    def matryoshka_dims(self) -> list[int]:
        """Dense sizes scaled like the published ones (hidden/16 ... hidden)."""
        return [self.hidden // 16, self.hidden // 8, self.hidden // 4, self.hidden // 2, self.hidden]


PRESETS: dict[str, Preset] = {
    # tests: runs a text or image batch in milliseconds
    "tiny": Preset(
        name="tiny",
        hidden=64,
        intermediate=128,
        layers=2,
        heads=4,
        kv_heads=2,
        mrope_section=(2, 3, 3),
        vision_hidden=32,
        vision_intermediate=64,
        vision_depth=2,
        vision_heads=2,
        fullatt_blocks=(1,),
        lora_rank=4,
        max_pixels=16 * 28 * 28,
    ),
    # CPU benchmarks: small enough to run, large enough that the matrix work dominates
    "medium": Preset(
        name="medium",
        hidden=512,
        intermediate=1536,
        layers=4,
        heads=8,
        kv_heads=2,
        mrope_section=(8, 12, 12),
        vision_hidden=256,
        vision_intermediate=512,
        vision_depth=4,
        vision_heads=4,
        fullatt_blocks=(1, 3),
        lora_rank=16,
        max_pixels=256 * 28 * 28,
    ),
    # the published architecture (3.8B parameters), for GPU benchmarks with random weights
    "full": Preset(
        name="full",
        hidden=2048,
        intermediate=11008,
        layers=36,
        heads=16,
        kv_heads=2,
        mrope_section=(16, 24, 24),
        vision_hidden=1280,
        vision_intermediate=3420,
        vision_depth=32,
        vision_heads=16,
        fullatt_blocks=(7, 15, 23, 31),
        lora_rank=32,
        max_pixels=768 * 28 * 28,
    ),
}
