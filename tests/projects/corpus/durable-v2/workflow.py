"""The Durable functions proper, on a blueprint the app registers (the split larger v2 Durable
apps use: one module for the HTTP surface, one for the workflow)."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
def ship_parcels(context: df.DurableOrchestrationContext) -> Generator[Any, Any, list[str]]:
    parcels = context.get_input() or []
    labels = []
    for parcel in parcels:
        labels.append((yield context.call_activity("print_label", parcel)))
    context.signal_entity(df.EntityId("parcel_tally", "today"), "add", len(labels))
    return labels


@bp.activity_trigger(input_name="parcel")
def print_label(parcel: str) -> str:
    return f"label for {parcel}"


@bp.entity_trigger(context_name="context")
def parcel_tally(context: df.DurableEntityContext) -> None:
    tally = int(context.get_state(lambda: 0))
    if context.operation_name == "add":
        tally += int(context.get_input() or 0)
        context.set_state(tally)
    context.set_result(tally)
