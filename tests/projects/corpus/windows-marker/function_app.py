import sys

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="platform")
def platform(req: func.HttpRequest) -> func.HttpResponse:
    if sys.platform == "win32":  # pragma: no cover - the developer's machine
        import win32api  # noqa: F401
    return func.HttpResponse(f"running on {sys.platform}")
