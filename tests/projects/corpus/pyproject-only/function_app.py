"""An app whose dependencies are declared only in pyproject.toml."""

import azure.functions as func
from packaging.version import Version

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="inventory")
def inventory(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"api {Version('0.3.0')} on packaging")
