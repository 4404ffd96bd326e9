"""The int8 copy of an exported transformer: 8-bit weights in small blocks, each with its own
scale and zero point.

What was measured on the FinBuddy data, multilingual-e5-small before and after `flask retrain`
(cosine with torch over the evaluation messages and phrasings; see the README's Benchmarks):

- ``quantize_dynamic`` (int8 weights, uint8 activations quantised per tensor at run time) is
  the fastest, but a tensor-wide activation scale is too coarse: cosine 0.98 before and 0.80
  after fine-tuning, acc@1 down 0.06 after;
- static quantisation calibrated on the FAQ phrasings (QDQ, per-channel weights) is worse still
  (cosine 0.92 to 0.95), and 0.994 even with the feed-forward output layers kept in float;
- 8-bit weights in blocks of 16 along the input dimension, asymmetric, with activations
  quantised per block of the same 16 when multiplying (ONNX Runtime's ``MatMulNBits``): cosine
  >= 0.998, about 0.75 of float32's time. That is what this module writes. (Symmetric blocks were
  ten times less exact: the embedded e5 weights come from a 4-bit file whose grid is asymmetric.)

The word-embedding table, most of the file, becomes 8-bit blocks of 32 (``GatherBlockQuantized``):
it costs nothing measurable in accuracy and shrinks the model from 470 to 150 MB.

Given a calibration plan (``smoothing``), the products it names instead get their input
smoothed and quantised per message (``DynamicQuantizeMatMul``, int8 weights per column): about
twice as fast as the blocks, and chosen product by product so the model stays close to float.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.onnx_export.graph import save_model
from training.onnx_export.smoothing import DynamicPlan
from training.onnx_export.smoothing import quantised_columns

MATMUL_BLOCK = 16
EMBEDDING_BLOCK = 32
ACCURACY_LEVEL = 4  # multiply in int8: activations quantised per block at run time
MIN_EMBEDDING_BYTES = 1 << 20  # smaller lookup tables stay float: nothing to gain
MS_DOMAIN = "com.microsoft"


def matmul_weights(source: Path) -> dict[str, tuple[str, np.ndarray]]:
    """Every MatMul with a constant float weight of its own: node name -> (input, weight)."""
    import onnx

    model = onnx.load(str(source))
    weight = _weights(model.graph)
    found = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and (matrix := weight(node.input[1])) is not None:
            found[node.name] = (node.input[0], matrix)
    return found


def quantize_int8(source: Path, target: Path, plan: DynamicPlan | None = None) -> None:
    """Write `source` with every constant-weight MatMul and large embedding table in 8 bits:
    the products `plan` names quantised per message, the others in blocks."""
    import onnx
    from onnx import helper
    from onnx import numpy_helper

    plan = plan or DynamicPlan()
    model = onnx.load(str(source))
    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    weight = _weights(graph)
    smoothed: dict[str, str] = {}  # input name -> its smoothed copy's name
    nodes = []
    for node in graph.node:
        matrix = None
        if node.op_type == "MatMul":
            matrix = weight(node.input[1])
        elif node.op_type == "Gather" and not _attribute(node, "axis"):
            matrix = weight(node.input[0])
            if matrix is not None and (
                matrix.nbytes < MIN_EMBEDDING_BYTES or matrix.shape[1] % EMBEDDING_BLOCK
            ):
                matrix = None
        if matrix is None:
            nodes.append(node)
            continue
        if node.op_type == "MatMul" and node.name in plan.nodes:
            scales = plan.smoothing[node.input[0]]
            if node.input[0] not in smoothed:
                nodes.append(_smoothing(node.input[0], scales, graph))
                smoothed[node.input[0]] = nodes[-1].output[0]
            replacement, tensors = _dynamic_matmul(node, matrix, scales, smoothed[node.input[0]])
        elif node.op_type == "MatMul":
            replacement, tensors = _matmul_nbits(node, matrix)
        else:
            replacement, tensors = _gather_block_quantized(node, matrix)
        nodes.append(replacement)
        graph.initializer.remove(initializers[node.input[1 if node.op_type == "MatMul" else 0]])
        graph.initializer.extend(numpy_helper.from_array(array, name) for name, array in tensors)
    del graph.node[:]
    graph.node.extend(nodes)
    if not any(opset.domain == MS_DOMAIN for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    save_model(model, target)


def _weights(graph):  # noqa: ANN001, ANN202
    """name -> its float matrix, for an initializer used by one node only (a shared one stays
    as it is); None for anything else."""
    from onnx import numpy_helper

    initializers = {tensor.name: tensor for tensor in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1

    def weight(name: str) -> np.ndarray | None:
        if name not in initializers or uses[name] != 1:
            return None
        array = numpy_helper.to_array(initializers[name])
        return array if array.ndim == 2 and array.dtype == np.float32 else None

    return weight


def _smoothing(name: str, scales: np.ndarray, graph):  # noqa: ANN001, ANN202
    """x / s, channel by channel: the node every per-message product of `name` reads."""
    from onnx import helper
    from onnx import numpy_helper

    graph.initializer.append(numpy_helper.from_array(1.0 / scales, f"{name}_smoothing"))
    return helper.make_node(
        "Mul", [name, f"{name}_smoothing"], [f"{name}_smoothed"], name=f"{name}_smooth"
    )


def _dynamic_matmul(node, matrix: np.ndarray, scales: np.ndarray, smoothed: str):  # noqa: ANN001, ANN202
    """(x / s) @ (s W), x / s being `smoothed`: the input quantised per message, the weight
    per column."""
    from onnx import helper

    codes, column_scales = quantised_columns(matrix * scales[:, None])
    name = node.input[1]
    tensors = [(f"{name}_i8", codes), (f"{name}_column_scales", column_scales)]
    replacement = helper.make_node(
        "DynamicQuantizeMatMul",
        [smoothed, *(tensor_name for tensor_name, _ in tensors)],
        list(node.output),
        name=f"{node.name}_dynamic",
        domain=MS_DOMAIN,
    )
    return replacement, tensors


def blockwise(matrix: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 codes, scales and zero points of each row's blocks: row r, block b, element i
    is ``(codes[r, b, i] - zero_points[r, b]) * scales[r, b]``; rows are padded to whole blocks.
    """
    rows, width = matrix.shape
    padded = matrix
    if width % block:
        padded = np.zeros((rows, -(-width // block) * block), dtype=np.float32)
        padded[:, :width] = matrix
    blocks = padded.reshape(rows, -1, block)
    low = np.minimum(blocks.min(axis=2), 0.0)
    high = np.maximum(blocks.max(axis=2), 0.0)
    scales = (high - low) / 255.0
    scales[scales == 0] = 1.0  # an all-zero block: any scale decodes it exactly
    zero_points = np.clip(np.rint(-low / scales), 0, 255)
    codes = blocks / scales[:, :, None]  # in place from here: embedding tables are large
    np.rint(codes, out=codes)
    codes += zero_points[:, :, None]
    np.clip(codes, 0, 255, out=codes)
    return codes.astype(np.uint8), scales.astype(np.float32), zero_points.astype(np.uint8)


def _matmul_nbits(node, matrix: np.ndarray):  # noqa: ANN001, ANN202
    """x @ W with W (K x N) stored transposed, in blocks along K, as MatMulNBits expects."""
    from onnx import helper

    k, n = matrix.shape
    codes, scales, zero_points = blockwise(np.ascontiguousarray(matrix.T), MATMUL_BLOCK)
    name = node.input[1]
    tensors = [(f"{name}_q8", codes), (f"{name}_scales", scales), (f"{name}_zp", zero_points)]
    replacement = helper.make_node(
        "MatMulNBits",
        [node.input[0], *(tensor_name for tensor_name, _ in tensors)],
        list(node.output),
        name=f"{node.name}_q8",
        domain=MS_DOMAIN,
        K=k,
        N=n,
        bits=8,
        block_size=MATMUL_BLOCK,
        accuracy_level=ACCURACY_LEVEL,
    )
    return replacement, tensors


def _gather_block_quantized(node, matrix: np.ndarray):  # noqa: ANN001, ANN202
    """An embedding lookup over 8-bit rows, decoded only for the tokens looked up."""
    from onnx import helper

    codes, scales, zero_points = blockwise(matrix, EMBEDDING_BLOCK)
    name = node.input[0]
    tensors = [
        (f"{name}_q8", codes.reshape(matrix.shape)),
        (f"{name}_scales", scales),
        (f"{name}_zp", zero_points),
    ]
    replacement = helper.make_node(
        "GatherBlockQuantized",
        [tensors[0][0], node.input[1], tensors[1][0], tensors[2][0]],
        list(node.output),
        name=f"{node.name}_q8",
        domain=MS_DOMAIN,
        gather_axis=0,
        quantize_axis=1,
        block_size=EMBEDDING_BLOCK,
        bits=8,
    )
    return replacement, tensors


def _attribute(node, name: str) -> int:  # noqa: ANN001
    for attribute in node.attribute:
        if attribute.name == name:
            return attribute.i
    return 0
