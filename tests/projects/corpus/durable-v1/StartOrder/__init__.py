"""Durable Functions, model v1: the HTTP starter. Its ``durableClient`` binding is a JSON string
the host fills in; the client built from it talks to the Durable extension's webhooks."""

import azure.durable_functions as df
import azure.functions as func


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    client = df.DurableOrchestrationClient(starter)
    instance_id = await client.start_new("FulfilOrder", None, req.get_json())
    return client.create_check_status_response(req, instance_id)
