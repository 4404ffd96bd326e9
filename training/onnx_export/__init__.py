"""Export a sentence-transformers model for serving with ONNX Runtime, without torch.

A serving directory holds the transformer as ONNX (``model.onnx``, float32), an int8 copy
(``model.int8.onnx``), the tokenizer as ``tokenizer.json`` and ``serving.json``: what the
runtime needs to reproduce sentence-transformers' ``encode`` (prompt, maximum length, pooling)
and what the export measured against torch.

- ``config``: ``serving.json``, read by the web workers (no torch);
- ``runtime``: the ONNX Runtime encoder the web workers serve with (no torch);
- ``graph``: the transformer through ``torch.onnx.export``, and what serving must add to it;
- ``tokenizer``: ``tokenizer.json``, checked against the model's own tokenizer;
- ``quantize``: the int8 copy;
- ``export``: all of the above, atomically, with the parity check; also run as
  ``python -m training.onnx_export`` by processes that must not load torch themselves.
"""
