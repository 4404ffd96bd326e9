"""Map the ``E5S1`` tensors to a Hugging Face XLM-RoBERTa state dict and config."""

from __future__ import annotations

import numpy as np

from training.embedded_e5.e5_file import E5File
from training.errors import EmbeddedE5Error

# RoBERTa numbers positions from padding_idx + 1 = 2; e5.c (a BERT model) numbers them from 0.
POSITION_OFFSET = 2


def _layer_names(i: int) -> dict[str, str]:
    hf = f"encoder.layer.{i}."
    return {
        f"l{i}.q.w": hf + "attention.self.query.weight",
        f"l{i}.q.b": hf + "attention.self.query.bias",
        f"l{i}.k.w": hf + "attention.self.key.weight",
        f"l{i}.k.b": hf + "attention.self.key.bias",
        f"l{i}.v.w": hf + "attention.self.value.weight",
        f"l{i}.v.b": hf + "attention.self.value.bias",
        f"l{i}.ao.w": hf + "attention.output.dense.weight",
        f"l{i}.ao.b": hf + "attention.output.dense.bias",
        f"l{i}.aln.w": hf + "attention.output.LayerNorm.weight",
        f"l{i}.aln.b": hf + "attention.output.LayerNorm.bias",
        f"l{i}.fi.w": hf + "intermediate.dense.weight",
        f"l{i}.fi.b": hf + "intermediate.dense.bias",
        f"l{i}.fo.w": hf + "output.dense.weight",
        f"l{i}.fo.b": hf + "output.dense.bias",
        f"l{i}.oln.w": hf + "output.LayerNorm.weight",
        f"l{i}.oln.b": hf + "output.LayerNorm.bias",
    }


def hf_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """Rename and reshape e5.c tensors to XLMRobertaModel parameter names.

    e5.c multiplies activations by ``W^T`` with ``W`` stored [out, in], which is exactly
    ``nn.Linear.weight``, so matrices are only reshaped. The position table gets two leading
    zero rows: RoBERTa gives the first real token position ``padding_idx + 1 = 2`` (and padding
    position 1), where e5.c uses row 0.
    """
    h = e5.header
    shapes = {
        "emb.word": (h.vocab, h.hidden),
        "emb.pos": (h.max_positions, h.hidden),
        "emb.type": (h.type_vocab, h.hidden),
    }
    names = {
        "emb.word": "embeddings.word_embeddings.weight",
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
    for i in range(h.layers):
        names.update(_layer_names(i))
        for kind, shape in (
            ("q", (h.hidden, h.hidden)),
            ("k", (h.hidden, h.hidden)),
            ("v", (h.hidden, h.hidden)),
            ("ao", (h.hidden, h.hidden)),
            ("fi", (h.ffn, h.hidden)),
            ("fo", (h.hidden, h.ffn)),
        ):
            shapes[f"l{i}.{kind}.w"] = shape
    missing = sorted(set(names) - set(e5.tensors))
    extra = sorted(set(e5.tensors) - set(names))
    if missing or extra:
        raise EmbeddedE5Error(f"unexpected tensor set: missing {missing}, unknown {extra}")

    state: dict[str, np.ndarray] = {}
    for name, array in e5.tensors.items():
        shape = shapes.get(name, (array.size,))
        if int(np.prod(shape)) != array.size:
            raise EmbeddedE5Error(f"tensor {name} has {array.size} values, expected {shape}")
        state[names[name]] = array.reshape(shape)
    pos = state["embeddings.position_embeddings.weight"]
    padded = np.zeros((pos.shape[0] + POSITION_OFFSET, pos.shape[1]), dtype=np.float32)
    padded[POSITION_OFFSET:] = pos
    state["embeddings.position_embeddings.weight"] = padded
    return state


def hf_config(e5: E5File) -> dict:
    """XLM-RoBERTa config with the file's sizes (GELU with erf, as e5.c's ``gelu``)."""
    h = e5.header
    return {
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "max_position_embeddings": h.max_positions + POSITION_OFFSET,
        "type_vocab_size": h.type_vocab,
        "layer_norm_eps": h.eps,
        "pad_token_id": e5.vocab.pad,
        "bos_token_id": e5.vocab.bos,
        "eos_token_id": e5.vocab.eos,
    }
