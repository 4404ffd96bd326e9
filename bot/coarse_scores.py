"""A message's similarity to every indexed vector in int8, with a proven bound on the error.

At 30k phrasings the exact float32 product reads 46 MB for every message: about 2-3 ms, the
largest cost a big catalog adds to an answer. Stored as 7-bit codes (one scale per vector) the
same vectors are 12 MB, and ONNX Runtime's integer product (VNNI) scores them all in about
0.3 ms. The error bound says which FAQs the int8 scores cannot rank for sure; the matcher
scores only those again in float32, so the answer is the one the exact product gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.onnx_export.smoothing import dynamic_uint8

COARSE_MIN_ENTRIES = 2048  # below this the float32 product is cheaper than the two passes
# Codes within +-63: x86 kernels without VNNI add pairs of uint8 x int8 products in int16,
# which saturates past 32767 (255 x 127 x 2 would); the bound would then not hold.
CODE_LIMIT = 63
ROUNDING_SLACK = 1e-5  # float32 rounding in both products, far above what it can reach


def _integer_product_session(codes: np.ndarray, threads: int) -> Any:  # noqa: ANN401
    """An ONNX Runtime session computing message_codes x codes^T in int32 (MatMulInteger)."""
    import onnxruntime
    from onnx import TensorProto
    from onnx import helper
    from onnx import numpy_helper

    entries = len(codes)
    dims = codes.shape[1]
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["message", "codes", "zero_point"], ["products"])],
        "coarse_scores",
        [
            helper.make_tensor_value_info("message", TensorProto.UINT8, [1, dims]),
            helper.make_tensor_value_info("zero_point", TensorProto.UINT8, []),
        ],
        [helper.make_tensor_value_info("products", TensorProto.INT32, [1, entries])],
        initializer=[numpy_helper.from_array(np.ascontiguousarray(codes.T), "codes")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


class CoarseScorer:
    """Approximate inner products of one message with every row of `vectors`.

    Error bound, for message x, its int8 form x', a row w and its int8 form w':
    |x.w - x'.w'| <= |x - x'| |w| + |x'| |w - w'|  (Cauchy-Schwarz twice), with |w - w'| the
    largest row residual, measured when the codes are made.
    """

    def __init__(self, vectors: np.ndarray, threads: int = 1) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        peaks = np.abs(vectors).max(axis=1)
        self.scales = np.where(peaks > 0, peaks / CODE_LIMIT, 1.0).astype(np.float32)
        codes = np.rint(vectors / self.scales[:, None])
        codes = np.clip(codes, -CODE_LIMIT, CODE_LIMIT).astype(np.int8)
        residuals = vectors - codes.astype(np.float32) * self.scales[:, None]
        self.max_residual = float(np.linalg.norm(residuals, axis=1).max())
        self.max_norm = float(np.linalg.norm(vectors, axis=1).max())
        self._session = _integer_product_session(codes, threads)

    def __len__(self) -> int:
        return len(self.scales)

    def scores(self, vector: np.ndarray, out: np.ndarray) -> float:
        """Write the approximate similarities into `out`; return the most any is off by."""
        codes, zero_point, scale = dynamic_uint8(vector)
        feed = {"message": codes[None], "zero_point": np.array(zero_point, dtype=np.uint8)}
        products = self._session.run(None, feed)[0][0]
        np.multiply(products, self.scales * np.float32(scale), out=out, casting="unsafe")
        dequantised = (codes.astype(np.float32) - zero_point) * np.float32(scale)
        return (
            float(np.linalg.norm(vector - dequantised)) * self.max_norm
            + float(np.linalg.norm(dequantised)) * self.max_residual
            + ROUNDING_SLACK
        )
