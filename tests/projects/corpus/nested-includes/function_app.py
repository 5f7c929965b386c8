import azure.functions as func
import six
from packaging.version import Version

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="versions")
def versions(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"six {six.__version__}, packaging {Version('24.0')}")
