import azure.functions as func

from ..shared_code import money  # noqa: TID252 - the documented v1 relative import


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(str(money.cents(req.params.get("total", "1.5"))))
