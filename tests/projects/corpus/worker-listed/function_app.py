"""An app whose frozen requirements list the Python worker itself (a common shape of apps
set up from the worker's virtual environment)."""

import azure.functions as func
import six

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="frozen")
def frozen(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"six {six.__version__} without the worker")
