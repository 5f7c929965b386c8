"""A plain HTTP function next to the Durable ones, as deployed apps keep for probes.

The corpus test calls this one, not StartOrder: the starter needs the Durable extension's
backend (the host's webhook URLs in its ``durableClient`` binding), which the emulator's function
host does not run. Answering still proves the Durable library was installed with the app.
"""

import azure.durable_functions as df
import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    running = df.OrchestrationRuntimeStatus.Running.value
    return func.HttpResponse(f"durable v1 up, orchestrations report {running}")
