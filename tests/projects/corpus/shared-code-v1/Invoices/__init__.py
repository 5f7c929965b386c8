import azure.functions as func
from shared_code.money import cents


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(str(cents(req.params.get("total", "2.25"))))
