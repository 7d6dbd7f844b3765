"""Runtime configuration, read once from `SHOPBRIDGE_*` environment variables.

Everything an operator can change lives here so that `shopbridge serve`, `worker` and the
tests agree on one source of truth; nothing else reads the environment directly.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPBRIDGE_", extra="ignore")

    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="Where the embedded SQLite database and the generated key file live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; defaults to a SQLite file under data_dir. "
        "Use postgresql+asyncpg://user@host/db for scale.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Base64 (urlsafe) 32-byte key that encrypts shop credentials at rest. "
        "When unset a key file is generated under data_dir on first start.",
    )
    admin_key: SecretStr | None = Field(
        default=None,
        description="Bootstrap admin API key of the default tenant. When unset, one is "
        "generated on first start and printed once.",
    )
    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"
    page_size_default: int = Field(default=50, ge=1, le=500)
    sync_poll_interval_seconds: float = Field(
        default=60, gt=0, description="Default pull interval per shop (shops may override)."
    )
    sync_backfill_days: float = Field(default=3, gt=0, description="First-connect backfill.")
    sync_lease_seconds: float = Field(
        default=300, ge=2, description="How long a worker's claim on a shop lasts unless renewed."
    )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'shopbridge.db').as_posix()}"

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret.key"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
