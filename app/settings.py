"""All service settings in one place, read from the environment (prefix `DINO_`) or a `.env` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DINO_", env_file=".env", extra="ignore")

    artifact_dir: Path = Field(REPO_ROOT / "artifacts", description="directory holding the trained models")
    names_model: str = Field("dinos-gru", description="default /names model id (<id>.json in artifact_dir); \"dinos\" is the notebook recipe")
    poem_model: str = Field("sonnets", description="poem model id: <id>.json in artifact_dir")
    poem_legacy_h5: Path | None = Field(None, description="serve a course Keras-2 .h5 file instead of poem_model")

    max_names_per_request: int = Field(100, ge=1, description="upper bound of /names?count")
    max_name_attempts: int = Field(20_000, ge=1, description="candidate names drawn per request at most (by the RNN; "
                                   "a model that costs k times more per candidate, as its attempt_cost says, gets 1/k)")
    max_poem_length: int = Field(2000, ge=1, description="upper bound of /poem?length")
    max_prompt_length: int = Field(2000, ge=0, description="upper bound of len(/poem?prompt)")
    max_concurrent_generations: int = Field(4, ge=1, description="requests generating at once per worker")
    queue_timeout_s: float = Field(10.0, ge=0, description="wait for a generation slot before answering 503")
    generation_timeout_s: float = Field(30.0, gt=0, description="a poem taking longer than this is abandoned (503)")


@lru_cache
def get_settings() -> Settings:
    return Settings()
