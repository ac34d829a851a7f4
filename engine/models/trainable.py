"""Freezing, optimizer parameter groups and frozen-BatchNorm handling.

A trainable *spec* (``PhaseConfig.trainable``) is one of

- ``"head"``: every backbone part frozen, the head trains (S1 phase 1, S3 phase 1);
- ``"all"``: everything trains;
- ``{"last": N}``: the last ``N`` blocks of every backbone part train, plus the head;
- a per-part dict, e.g. ``{"effnet": {"last": 3}, "vit": {"last": 4}}`` (S3
  phase 2); each value is ``"head"``/``"frozen"``, ``"all"`` or ``{"last": N}``
  and parts left out stay frozen.

Blocks are those of :meth:`HistoModel.backbone_blocks`. Parameters of a part
that belong to no block (a ViT's ``cls_token`` and ``pos_embed``) train only
when the whole part does (``"all"`` or ``N`` >= the part's block count). The
head (for S3 also the fusion block) always trains.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from engine.errors import ConfigError

ALL = None  # "every block of the part trains"
_FROZEN_WORDS = ("head", "frozen", "none")


def _last_n(value: Any, where: str) -> int:
    n = value.get("last") if isinstance(value, dict) else None
    if not isinstance(value, dict) or set(value) != {"last"} or isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigError(f"{where}: expected {{'last': N}} with an integer N >= 0, got {value!r}.")
    return n


def _part_rule(value: Any, where: str) -> int | None:
    if isinstance(value, str):
        if value in _FROZEN_WORDS:
            return 0
        if value == "all":
            return ALL
        raise ConfigError(f"{where}: expected 'head', 'all' or {{'last': N}}, got {value!r}.")
    return _last_n(value, where)


def parse_spec(spec: Any, parts: list[str]) -> dict[str, int | None]:
    """Per backbone part: how many last blocks train (``None`` = all, 0 = frozen)."""
    if isinstance(spec, str) or (isinstance(spec, dict) and set(spec) == {"last"}):
        rule = _part_rule(spec, "trainable")
        return {p: rule for p in parts}
    if isinstance(spec, dict):
        unknown = set(spec) - set(parts)
        if unknown:
            raise ConfigError(f"trainable: unknown backbone part(s) {sorted(unknown)}; this model has {parts}.")
        return {p: _part_rule(spec.get(p, "frozen"), f"trainable.{p}") for p in parts}
    raise ConfigError(f"trainable: expected 'head', 'all', {{'last': N}} or a per-part dict, got {spec!r}.")


def set_trainable(model: Any, spec: Any) -> None:
    """Set ``requires_grad`` on ``model`` (a :class:`HistoModel`) as ``spec`` says."""
    blocks = model.backbone_blocks()
    rules = parse_spec(spec, list(model.backbone_parts()))
    for part, module in model.backbone_parts().items():
        n, part_blocks = rules[part], blocks[part]
        whole = n is None or n >= len(part_blocks)  # None: ALL
        module.requires_grad_(whole)
        if n is not None and not whole and n > 0:
            for block in part_blocks[-n:]:
                block.requires_grad_(True)
    for head in model.head_modules():
        head.requires_grad_(True)


def _head_param_ids(model: Any) -> set[int]:
    return {id(p) for m in model.head_modules() for p in m.parameters()}


def param_groups(model: nn.Module, lr_head: float, lr_backbone: float) -> list[dict[str, Any]]:
    """Groups ``{"name", "params", "lr"}`` of trainable parameters; empty groups are left out."""
    head_ids = _head_param_ids(model)
    head: list[nn.Parameter] = []
    backbone: list[nn.Parameter] = []
    for p in model.parameters():
        if p.requires_grad:
            (head if id(p) in head_ids else backbone).append(p)
    groups = [{"name": "head", "params": head, "lr": lr_head},
              {"name": "backbone", "params": backbone, "lr": lr_backbone}]
    return [g for g in groups if g["params"]]


def frozen_bn_eval(model: Any) -> None:
    """Eval mode for backbone BatchNorm layers whose affine parameters are all frozen.

    Their running statistics then stay those of pretraining, as in Keras'
    transfer-learning guide (BatchNorm with ``trainable=False`` runs in
    inference mode). BatchNorm without affine parameters is left alone.
    """
    for part in model.backbone_parts().values():
        for m in part.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                params = list(m.parameters(recurse=False))
                if params and not any(p.requires_grad for p in params):
                    m.eval()
