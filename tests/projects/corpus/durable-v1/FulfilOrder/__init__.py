"""The orchestrator: a generator wrapped by ``df.Orchestrator.create``, so the entry point
``main`` is the object that call returns, not a ``def`` of this module."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df


def fulfil(context: df.DurableOrchestrationContext) -> Generator[Any, Any, list[str]]:
    order = context.get_input() or {}
    reserved = []
    for item in order.get("items", []):
        reserved.append((yield context.call_activity("ReserveStock", item)))
    context.signal_entity(df.EntityId("OrderCounter", "all"), "add", len(reserved))
    return reserved


main = df.Orchestrator.create(fulfil)
