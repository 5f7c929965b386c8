import azure.functions as func
from shared_code import greeting


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(greeting(req.params.get("name", "world")))
