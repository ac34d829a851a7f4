"""Deployment: ONNX export with verified parity, model packages, int8 quantisation.

A *model package* is a folder ``<run id>.hdpkg/`` holding ``model.onnx``
(optionally ``model.int8.onnx``) and ``package.json`` (classes, input
specification, preprocessing, SHA-256 of every file, parity figures). It is
classified with onnxruntime alone (:class:`engine.deploy.package.ModelPackage`)
and never unpickles anything. Modules:

- :mod:`engine.deploy.spec` the input specification and its numpy preprocessing,
- :mod:`engine.deploy.graph` the exported graph (model + sigmoid/softmax),
- :mod:`engine.deploy.manifest` package.json: build, validate, hashes,
- :mod:`engine.deploy.runtime` onnxruntime sessions and graph checks,
- :mod:`engine.deploy.package` :class:`ModelPackage`, :func:`is_package`,
- :mod:`engine.deploy.export` :func:`export_run` (the ``python main.py export`` job),
- :mod:`engine.deploy.samples` the run's own images for parity, calibration and accuracy,
- :mod:`engine.deploy.quantize` int8 quantisation and its accuracy check,
- :mod:`engine.deploy.predictors` one interface over a run (torch) and a package (onnx).

Package layout::

    <run id>.hdpkg/
        model.onnx        fp32 graph: input [N,3,S,S] float32 -> probs [N,C], logits
        model.int8.onnx   optional int8 graph (same inputs/outputs)
        package.json      format, format_version, name, classes, input {size, channels, dtype,
                          layout, normalize, mean, std}, resize, keep_aspect, tta, magnification,
                          stain, binary_single_logit, files {name: sha256}, source_run, created,
                          parity {max_prob_diff, n_images}, int8 {...}, torch/onnx/onnxruntime/opset
"""
