"""The FastAPI application: models are loaded once in the lifespan and shared read-only by every request.

Run with `make run`, or `uvicorn app.main:app`. Swagger UI at /docs.
"""

from __future__ import annotations

import logging
import sys
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import errors
from app.api.deps import GenerationSlots
from app.api.routes import health, names, poem
from app.observability import MODEL_LOAD_SECONDS, ObservabilityMiddleware
from app.registry import load_registry
from app.settings import Settings, get_settings

DESCRIPTION = """
Character-level language models from the *Dinosaur Island* exercise:

* **/names** — new dinosaur names from NumPy models trained on 1,524 real ones: an ensemble of three GRUs (default)
  or the course's vanilla RNN (`model=dinos`).
* **/poem** — Shakespeare-like verse continuing your line, from an LSTM trained on the Sonnets.

Every generation takes a `seed`; the same seed and parameters give the same response, always.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        # Generation threads hold the GIL between compiled/BLAS calls; a short switch interval lets the event loop
        # (health checks, streaming, accepting connections) get it back within ~1 ms instead of 5 ms.
        sys.setswitchinterval(0.001)
        app.state.registry = load_registry(settings)  # once per worker, before the first request
        for model_id, seconds in app.state.registry.load_seconds.items():
            MODEL_LOAD_SECONDS.labels(model_id).set(seconds)
        yield
        logging.getLogger("app").info('{"event": "shutdown", "detail": "in-flight requests finished"}')

    app = FastAPI(title="Dinosaur Island", version="1.0.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    # Separate pools: a queue of slow poems must never hold up cheap name requests.
    app.state.slots = {kind: GenerationSlots(settings.max_concurrent_generations, settings.queue_timeout_s)
                       for kind in ("names", "poem")}
    app.add_exception_handler(RequestValidationError, errors.validation_handler)
    app.add_exception_handler(StarletteHTTPException, errors.http_error_handler)
    app.add_exception_handler(errors.ParamError, errors.param_error_handler)
    app.add_exception_handler(errors.ServiceUnavailable, errors.unavailable_handler)
    app.add_exception_handler(errors.ClientDisconnected, errors.disconnected_handler)
    app.add_middleware(ObservabilityMiddleware)
    app.include_router(names.router)
    app.include_router(poem.router)
    app.include_router(health.router)
    return app


app = create_app()
