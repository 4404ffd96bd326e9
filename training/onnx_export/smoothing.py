"""Which matrix products of the int8 copy may quantise their input per message, and how.

ONNX Runtime's fastest int8 product (``DynamicQuantizeMatMul``: uint8 activations with one
scale per message, int8 weights per column, VNNI) is about twice the speed of the 8-bit
blocks of ``MatMulNBits``, but a transformer's activations have a few channels a hundred times
larger than the rest, and one scale per message rounds the others away (cosine with torch
0.90 for the whole model). Two things fix most of it:

- smoothing (SmoothQuant, Xiao et al. 2023): the input is divided per channel by
  ``s = max|x|^0.5 / max|W row|^0.5`` and the weight rows multiplied by it, which moves the
  outliers into the weights, where each column has its own scale;
- choosing per product: each one's output error is simulated on calibration texts (the
  catalogue's phrasings, never the evaluation file), and a product that would lose more than
  ``MAX_RELATIVE_ERROR`` keeps its 8-bit blocks. On multilingual-e5-small that keeps most
  feed-forward output products (the input after GELU) in blocks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import numpy as np

ALPHA = 0.5  # how much of an activation outlier moves into the weights
MAX_RELATIVE_ERROR = 0.015  # |y - y_int8| / |y| over the calibration texts, per product
MAX_SAMPLES = 128  # calibration texts spread over those given, one run each


@dataclass(frozen=True)
class DynamicPlan:
    """The products that quantise their input per message, and each input's smoothing."""

    smoothing: dict[str, np.ndarray] = field(default_factory=dict)  # input name -> s
    nodes: frozenset[str] = frozenset()  # MatMul node names
    errors: dict[str, float] = field(default_factory=dict)  # every candidate's simulated error

    def describe(self) -> str:
        return f"{len(self.nodes)} of {len(self.errors)} products quantised per message"


def plan_dynamic(
    source: Path, weights: dict[str, tuple[str, np.ndarray]], feeds: Iterable[dict]
) -> DynamicPlan:
    """The plan for the float model at `source`.

    `weights` maps each candidate MatMul's node name to (its input's name, its weight K x N);
    `feeds` are ONNX Runtime inputs of single calibration texts (no padding: padded positions
    would widen the ranges).
    """
    feeds = list(feeds)
    if not feeds or not weights:
        return DynamicPlan()
    spread = np.linspace(0, len(feeds) - 1, min(len(feeds), MAX_SAMPLES), dtype=int)
    feeds = [feeds[i] for i in spread]
    inputs = sorted({name for name, _ in weights.values()})
    activations, bounds = _activations(_session_with_outputs(source, inputs), inputs, feeds)
    smoothing = {}
    for name, values in activations.items():
        weight_peak = np.maximum.reduce(
            [np.abs(w).max(axis=1) for input_name, w in weights.values() if input_name == name]
        )
        smoothing[name] = (
            np.maximum(np.abs(values).max(axis=0), 1e-5) ** ALPHA
            / np.maximum(weight_peak, 1e-5) ** (1 - ALPHA)
        ).astype(np.float32)
    errors = {}
    for name, values in activations.items():
        # one scale per message, as at serving time
        smoothed = np.concatenate(
            [simulated_dynamic_input(values[a:b] / smoothing[name]) for a, b in bounds]
        )
        for node, (input_name, w) in weights.items():
            if input_name == name:
                exact = values @ w
                approximate = smoothed @ _simulated_columns(w * smoothing[name][:, None])
                errors[node] = float(
                    np.linalg.norm(exact - approximate) / max(np.linalg.norm(exact), 1e-30)
                )
    nodes = frozenset(node for node, error in errors.items() if error <= MAX_RELATIVE_ERROR)
    used = {weights[node][0] for node in nodes}
    return DynamicPlan({name: s for name, s in smoothing.items() if name in used}, nodes, errors)


def quantised_columns(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 codes of each column and their scales: W ~ codes * scales."""
    scales = np.abs(matrix).max(axis=0) / 127.0
    scales[scales == 0] = 1.0
    codes = np.clip(np.rint(matrix / scales), -127, 127).astype(np.int8)
    return codes, scales.astype(np.float32)


def _simulated_columns(matrix: np.ndarray) -> np.ndarray:
    codes, scales = quantised_columns(matrix)
    return codes.astype(np.float32) * scales


def dynamic_uint8(values: np.ndarray) -> tuple[np.ndarray, int, float]:
    """``DynamicQuantizeLinear`` of `values`: uint8 codes, zero point and the one scale
    (the range always includes zero, which stays exact)."""
    low, high = min(float(values.min()), 0.0), max(float(values.max()), 0.0)
    scale = (high - low) / 255.0 or 1.0
    zero_point = int(np.clip(np.rint(-low / scale), 0, 255))
    codes = np.clip(np.rint(values / scale) + zero_point, 0, 255).astype(np.uint8)
    return codes, zero_point, scale


def simulated_dynamic_input(values: np.ndarray) -> np.ndarray:
    """What ``DynamicQuantizeLinear`` keeps of `values`: uint8, one scale, zero included."""
    codes, zero_point, scale = dynamic_uint8(values)
    return (codes.astype(np.float64) - zero_point) * scale


def _session_with_outputs(source: Path, names: list[str]):  # noqa: ANN202
    """An ONNX Runtime session of `source` that also returns the tensors `names`."""
    import onnx
    import onnxruntime
    from onnx import helper

    model = onnx.load(str(source), load_external_data=False)
    model.graph.output.extend(
        helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in names
    )
    options = onnxruntime.SessionOptions()
    # beside `source`, so its weights are read from the float model's own .data file
    path = Path(source).with_name(f".calibration-{Path(source).name}")
    path.write_bytes(model.SerializeToString())
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    finally:
        path.unlink()


def _activations(
    session,
    names: list[str],
    feeds: list[dict],  # noqa: ANN001
) -> tuple[dict[str, np.ndarray], list[tuple[int, int]]]:
    """The candidate products' inputs over all calibration texts, one row per token, and each
    text's rows."""
    first_output = session.get_outputs()[0].name
    rows: dict[str, list[np.ndarray]] = {name: [] for name in names}
    bounds, start = [], 0
    for feed in feeds:
        values = session.run([first_output, *names], feed)[1:]
        for name, value in zip(names, values, strict=True):
            rows[name].append(value.reshape(-1, value.shape[-1]).astype(np.float32))
        bounds.append((start, start + len(rows[names[0]][-1])))
        start = bounds[-1][1]
    return {name: np.concatenate(parts) for name, parts in rows.items()}, bounds
