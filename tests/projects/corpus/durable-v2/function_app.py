"""Durable Functions, model v2: a ``df.DFApp`` holding the HTTP starter and a probe, with the
orchestrator, its activity and an entity declared on a ``df.Blueprint`` in ``workflow.py``.

The corpus test calls ``healthz``: ``start_workflow`` needs the Durable extension's backend
(the webhook URLs the host puts in the client binding), which the emulator's host does not run.
"""

import azure.durable_functions as df
import azure.functions as func
from workflow import bp

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(bp)


@app.route(route="workflows/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_workflow(req: func.HttpRequest,
                         client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"], None, req.get_json())
    return client.create_check_status_response(req, instance_id)


@app.route(route="healthz", methods=["GET"])
def healthz(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"durable v2 up, blueprint of {type(bp).__name__}")
