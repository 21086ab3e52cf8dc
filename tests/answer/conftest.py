"""Shared by the answer step's model tests."""

from __future__ import annotations

from typing import Any

from qa.answer.matcher import MatcherWeights


def merged_in_torch(weights: MatcherWeights) -> tuple[Any, Any]:
    """The bundled model with ``weights``' LoRA deltas added, in transformers (eval mode), and its
    tokenizer: what an exported ONNX copy must compute."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from index.embedder import local_model_folder

    folder = local_model_folder(weights.base)
    model = AutoModel.from_pretrained(str(folder)).eval()
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, delta in weights.deltas().items():
            params[name].add_(torch.from_numpy(delta))
    return model, AutoTokenizer.from_pretrained(str(folder))
