"""Model registry: every classifier behind one interface, :class:`HistoModel`.

``create_model("resnet50", 2, pretrained="imagenet")`` builds a model;
``model_names()`` lists them (the wizard's drop-down) and ``model_info``
gives their metadata. Importing this package registers the models of
:mod:`engine.models.simple` (S1 basic CNN, S2 simple CNN),
:mod:`engine.models.backbones` (timm ResNet, VGG, MobileNet, EfficientNetV2,
ViT) and :mod:`engine.models.hybrid` (S3), :mod:`engine.models.sobel_alexnet`
and :mod:`engine.models.p4m` (S5). Pretrained weights:
:mod:`engine.models.weights`.
"""

# Registration order is the order of the wizard's drop-down: S1/S2 CNNs, timm backbones, S3 hybrid, S5 CNNs.
from engine.models import simple  # noqa: F401
from engine.models import backbones  # noqa: F401
from engine.models import hybrid  # noqa: F401
from engine.models import sobel_alexnet  # noqa: F401
from engine.models import p4m  # noqa: F401
from engine.models.base import HistoModel, PretrainedPart, mlp_head, num_outputs_for
from engine.models.factory import create_model, model_info, model_names, normalize_pretrained
from engine.models.weights import WeightsStatus, load_weights, weights_status
from engine.models.weights_io import LoadReport

__all__ = [
    "HistoModel", "PretrainedPart", "mlp_head", "num_outputs_for", "create_model", "model_info", "model_names",
    "normalize_pretrained", "WeightsStatus", "load_weights", "weights_status", "LoadReport",
]
