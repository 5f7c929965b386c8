import azure.functions as func

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="status")
def status(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("ok")
