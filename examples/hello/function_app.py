"""A model-v2 HTTP app with one real dependency, used by the README and `make demo`."""

import json

import azure.functions as func
from packaging.version import Version

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello", methods=["GET"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    name = req.params.get("name", "world")
    body = {"message": f"Hello, {name}!", "packaging": str(Version("24.0"))}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")
