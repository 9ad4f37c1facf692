"""The ASGI entry point for uvicorn: `uvicorn server.asgi:app`."""

from .app import create_app

app = create_app()
