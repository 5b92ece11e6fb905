"""The HTTP baseline: a FastAPI endpoint that returns a fixed list of ten strings (no model work at all)."""

from fastapi import FastAPI

app = FastAPI()
NAMES = [f"Name{i}saurus" for i in range(10)]


@app.get("/names")
def names(count: int = 10, seed: int = 0) -> dict:
    return {"names": NAMES, "seed": seed}
