"""Resolving names through the Hub cache (offline), and the merged single-task variants."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from jv4_integrations import CheckpointError, JV4Encoder, UnsupportedOutputError
from jv4_integrations.core.hub import resolve_checkpoint_dir
from jv4_integrations.testing import write_tiny_checkpoint


def _fake_hub_cache(cache: Path, repo_id: str, source: Path) -> Path:
    """Lay out ``source`` the way huggingface_hub caches a downloaded snapshot."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    shutil.copytree(source, snapshot)
    return snapshot


def test_offline_without_cache_says_how_to_use_a_local_copy(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as err:
        resolve_checkpoint_dir("jinaai/jina-embeddings-v4", cache_dir=tmp_path, local_files_only=True)
    message = str(err.value)
    assert "'jinaai/jina-embeddings-v4' is not in the local cache and offline mode is on" in message
    assert "hf download jinaai/jina-embeddings-v4 --local-dir" in message
    assert "JV4Encoder.from_pretrained('./jina-embeddings-v4')" in message


def test_hf_hub_offline_env_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="offline mode is on"):
        resolve_checkpoint_dir("jinaai/jina-embeddings-v4", cache_dir=tmp_path)


def test_unreachable_hub_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(
        hub_constants, "HUGGINGFACE_CO_URL_TEMPLATE", "http://127.0.0.1:9/{repo_id}/resolve/{revision}/{filename}"
    )
    with pytest.raises(CheckpointError) as err:
        resolve_checkpoint_dir("jinaai/jina-embeddings-v4", cache_dir=tmp_path, local_files_only=False)
    assert "jina-embeddings-v4" in str(err.value) and "--local-dir" in str(err.value)


def test_repo_id_resolves_from_the_hub_cache(tiny_checkpoint: Path, tmp_path: Path, encoder: JV4Encoder) -> None:
    snapshot = _fake_hub_cache(tmp_path, "someone/jv4-tiny", tiny_checkpoint)
    assert resolve_checkpoint_dir("someone/jv4-tiny", cache_dir=tmp_path, local_files_only=True) == snapshot
    enc = JV4Encoder.from_pretrained("someone/jv4-tiny", cache_dir=tmp_path, local_files_only=True, device="cpu")
    text = ["the same weights through the cache"]
    np.testing.assert_allclose(enc.encode_queries(text).dense, encoder.encode_queries(text).dense, atol=1e-6)


@pytest.mark.parametrize("bad", ["not a repo id", "a/b/c", "./missing-dir", "/definitely/not/here"])
def test_malformed_names_are_rejected(bad: str) -> None:
    with pytest.raises(CheckpointError, match="neither an existing local directory nor a Hub repository id"):
        resolve_checkpoint_dir(bad)


def test_a_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"")
    with pytest.raises(CheckpointError, match="is a file; pass the checkpoint directory"):
        resolve_checkpoint_dir(f)


# -- merged single-task variants (jinaai/jina-embeddings-v4-vllm-<task>) --------------------------------


@pytest.fixture(scope="module")
def merged_retrieval(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("vllm") / "jv4-tiny-vllm-retrieval", merged_task="retrieval")


def test_merged_variant_is_dense_only_and_matches_the_adapter(merged_retrieval: Path, encoder: JV4Encoder) -> None:
    assert not (merged_retrieval / "adapters").exists()
    merged = JV4Encoder.from_pretrained(str(merged_retrieval), device="cpu")
    assert merged.tasks == ("retrieval",) and not merged.supports_multivector
    assert merged.dims == (4, 8, 16, 32, 64)
    texts = ["merged weights equal base + B @ A", "a second, longer sentence to compare with the adapter path"]
    got = merged.encode_documents(texts, output="dense").dense
    want = encoder.encode_documents(texts, output="dense").dense
    other = encoder.encode_documents(texts, output="dense", task="code").dense
    cos_same = (got * want).sum(axis=1)
    cos_other = (got * other).sum(axis=1)
    assert np.all(cos_same > 0.999), cos_same  # bf16 rounding of the merged weights only
    assert np.all(cos_same - cos_other > 10 * (1 - cos_same)), (cos_same, cos_other)


def test_merged_variant_refuses_multivectors_and_other_tasks(merged_retrieval: Path) -> None:
    merged = JV4Encoder.shared(str(merged_retrieval), device="cpu")
    with pytest.raises(UnsupportedOutputError, match="has no multi-vector projector"):
        merged.encode_queries(["x"])  # the default output is "both"
    with pytest.raises(UnsupportedOutputError, match=r"task 'code' is not available .* it serves \['retrieval'\]"):
        merged.encode_queries(["x"], task="code", output="dense")


def test_merged_variant_without_a_known_task_asks_for_it(merged_retrieval: Path, tmp_path: Path) -> None:
    anonymous = tmp_path / "some-merged-model"
    shutil.copytree(merged_retrieval, anonymous)
    with pytest.raises(CheckpointError, match=r"pass merged_task= one of \['retrieval', 'text-matching', 'code'\]"):
        JV4Encoder.from_pretrained(str(anonymous), device="cpu")
    enc = JV4Encoder.from_pretrained(str(anonymous), device="cpu", merged_task="retrieval")
    assert enc.default_task == "retrieval"


def test_a_hub_id_and_its_snapshot_path_share_one_encoder(tiny_checkpoint: Path, tmp_path: Path) -> None:
    snapshot = _fake_hub_cache(tmp_path, "someone/jv4-shared", tiny_checkpoint)
    link = tmp_path / "link-to-snapshot"
    link.symlink_to(snapshot, target_is_directory=True)
    by_id = JV4Encoder.shared("someone/jv4-shared", cache_dir=tmp_path, local_files_only=True, device="cpu")
    assert JV4Encoder.shared(snapshot, device="cpu") is by_id  # the same files: loaded once
    assert JV4Encoder.shared(str(link), device="cpu") is by_id
    assert JV4Encoder.shared(snapshot, device="cpu", precision="reference") is not by_id  # another placement
    assert by_id.name_or_path == "someone/jv4-shared"
