"""Deployment: ONNX export with verified parity, model packages, int8 quantisation.

A *model package* is a folder ``<run id>.hdpkg/`` holding ``model.onnx``
(optionally ``model.int8.onnx``) and ``package.json`` (classes, input
specification, preprocessing, SHA-256 of every file, parity figures). It is
classified with onnxruntime alone (:class:`engine.deploy.package.ModelPackage`)
and never unpickles anything. Modules:

- :mod:`engine.deploy.spec` the input specification and its numpy preprocessing,
- :mod:`engine.deploy.graph` the exported graph (model + sigmoid/softmax),
- :mod:`engine.deploy.graph_process` that export in a child process (torch's exporter holds the GIL),
- :mod:`engine.deploy.manifest` package.json: seal (package.sha256), size/nesting limits, hashes, folder contents,
- :mod:`engine.deploy.manifest_schema` the strict pydantic schema of package.json,
- :mod:`engine.deploy.model_file` model files: no external data anywhere, the stamp binding them to package.json,
- :mod:`engine.deploy.runtime` onnxruntime sessions, graph checks, TTA probabilities,
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
                          layout, normalize, mean, std}, resize, keep_aspect, tta, tta_choice
                          {split: "val", mode, metric, plain, tta, n_images}, magnification,
                          stain, binary_single_logit, files {name: sha256}, source_run, created,
                          parity {max_prob_diff, n_images}, int8 {...}, calibration {temperature,
                          threshold}, torch/onnx/onnxruntime/opset
        package.sha256    the SHA-256 of package.json ("<hex>  package.json", as sha256sum writes)

Nothing else may be in the folder. Each model carries ``histodesk.manifest_sha256`` in its ONNX
metadata: the SHA-256 of package.json without ``files``, so package.json cannot be edited after
export without rewriting the model too. TTA is recommended only when it improves val ROC AUC
(accuracy when AUC is undefined), and always averages the views' probabilities.
"""
