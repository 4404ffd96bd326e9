"""Run an export in its own process: ``python -m training.onnx_export MODEL OUT_DIR TEXTS``."""

from training.onnx_export.export import main

if __name__ == "__main__":
    main()
