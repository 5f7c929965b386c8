"""Hosting plans the emulator offers and how ARM describes each (``sku``, ``kind``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

PlanKind = Literal["dedicated", "premium", "flex", "consumption"]
PLAN_KINDS: tuple[str, ...] = get_args(PlanKind)


@dataclass(frozen=True)
class PlanSku:
    name: str
    tier: str
    family: str
    plan_kind: str  # the serverfarm's ``kind``


SKUS: dict[str, PlanSku] = {
    "dedicated": PlanSku("B1", "Basic", "B", "linux"),
    "premium": PlanSku("EP1", "ElasticPremium", "EP", "elastic"),
    "flex": PlanSku("FC1", "FlexConsumption", "FC", "functionapp"),
    "consumption": PlanSku("Y1", "Dynamic", "Y", "functionapp"),
}

def plan_name(app: str) -> str:
    return f"{app}-plan"
