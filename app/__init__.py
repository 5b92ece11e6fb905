"""HTTP layer: FastAPI app, settings, routes. Model mathematics lives in `model_core`."""
