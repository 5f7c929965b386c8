"""Saved by a Windows editor: a byte-order mark and CRLF line ends everywhere."""
import azure.functions as func
import six

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="windows")
def windows(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(six.text_type("saved on windows"))
