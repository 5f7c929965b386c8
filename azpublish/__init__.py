"""azpublish: build and publish Python Azure Functions apps."""

__version__ = "0.1.0"
