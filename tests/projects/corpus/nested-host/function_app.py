import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="root")
def root(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("the root host.json is the app's")
