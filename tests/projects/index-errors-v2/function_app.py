"""A model v2 app whose module cannot import: the settings helper it needs was never deployed,
so the host indexes nothing at all."""

import azure.functions as func
from app_settings import load_settings

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
settings = load_settings()


@app.route(route="status")
def status(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"running with {len(settings)} settings")


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer")
def refresh(timer: func.TimerRequest) -> None:
    settings.update(load_settings())
