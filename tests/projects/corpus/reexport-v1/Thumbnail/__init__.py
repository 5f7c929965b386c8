"""An ``entryPoint`` naming a module-level object with ``__call__``: configuration is bound
once at import, and the worker calls the instance like a function."""

import azure.functions as func


class Thumbnailer:
    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height

    def __call__(self, req: func.HttpRequest) -> func.HttpResponse:
        scale = int(req.params.get("scale", "1"))
        return func.HttpResponse(f"thumbnail {self.width * scale}x{self.height * scale}")


handler = Thumbnailer(160, 90)
