"""Deployment in the GUI: classify a folder, browse the classifications, export a run to ONNX."""
