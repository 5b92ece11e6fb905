"""Liveness, readiness and model information."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from app.api.deps import RegistryDep
from app.observability import metrics_payload

router = APIRouter(tags=["operations"])
_CURVES = ("train_loss_curve", "held_out_loss_curve")


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    models: dict[str, str]  # model -> "loaded" or the reason it is not


@router.head("/healthz", include_in_schema=False)  # for monitors and load balancers that probe with HEAD
@router.get("/healthz", response_model=Health, summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@router.head("/readyz", include_in_schema=False)
@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}}, summary="All models are loaded")
async def readyz(reg: RegistryDep):
    models = {f"names:{k}": "loaded" for k in reg.names}
    if reg.poem is not None:
        models["poem"] = "loaded"
    models.update(reg.errors)
    body = Readiness(ready=reg.ready, models=models)
    return JSONResponse(body.model_dump(), status_code=200 if reg.ready else 503)


@router.get("/info", summary="Metadata of the loaded models (recipe, vocabulary, losses, provenance)")
async def info(reg: RegistryDep) -> dict[str, Any]:
    return {
        "names": {k: v.meta for k, v in reg.names.items()},
        "default_names_model": reg.default_names,
        "poem": {k: v for k, v in reg.poem_meta.items() if k not in _CURVES} if reg.poem is not None else None,
        "unavailable": reg.errors,
        "load_seconds": reg.load_seconds,
    }


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition format"}})
def metrics() -> Response:
    body, content_type = metrics_payload()
    return Response(body, media_type=content_type)
