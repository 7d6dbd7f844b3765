"""Runtime configuration, read once from `SHOPBRIDGE_*` environment variables.

Everything an operator can change lives here so that `shopbridge serve`, `worker` and the
tests agree on one source of truth; nothing else reads the environment directly.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
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

    webhook_retry_schedule: str = Field(
        default="5s,30s,2m,10m,30m,1h,2h,4h,8h,12h,24h,24h",
        description="Delays between webhook attempts (s, m, h, d units); after the last one "
        "a delivery is dead-lettered. The default spans a little over 3 days.",
    )
    webhook_timeout_seconds: float = Field(
        default=15, gt=0, le=120, description="Bound on one webhook attempt, connect included."
    )
    webhook_disable_after_hours: float = Field(
        default=120, gt=0, description="Disable an endpoint that has failed for this long."
    )
    webhook_max_in_flight: int = Field(default=128, ge=1, le=4096)
    webhook_max_in_flight_per_endpoint: int = Field(default=32, ge=1, le=1024)
    webhook_lease_seconds: float | None = Field(
        default=None,
        gt=0,
        description="How long a worker's claim on a delivery lasts; a crashed worker's "
        "deliveries are retried after it. Default: twice the timeout plus 10 s.",
    )
    delivery_poll_interval_seconds: float = Field(
        default=0.1, gt=0, le=10, description="How often the dispatcher looks for new work."
    )
    feed_max_wait_seconds: float = Field(
        default=60,
        ge=0,
        le=60,
        description="Upper bound on the event feed's long-poll `wait` (a proxy in front of "
        "ShopBridge may need a shorter one).",
    )
    event_retention_days: float = Field(
        default=30, gt=0, description="Events (and their delivery records) kept for the feed."
    )

    retention: Literal["vault", "passthrough"] = Field(
        default="vault",
        description="`vault`: buyer data is kept, encrypted (AES-GCM) and masked unless the "
        "reader holds `pii:read`. `passthrough`: buyer data is never written to disk; it "
        "lives in memory only until its events are delivered, and only ids, statuses, "
        "amounts and keyed hashes are stored.",
    )
    passthrough_memory_seconds: float = Field(
        default=3600,
        gt=0,
        description="Pass-through mode: how long buyer data of an undelivered event is kept "
        "in memory at most (it is dropped earlier once every delivery is acknowledged).",
    )
    passthrough_memory_max_orders: int = Field(
        default=200_000, ge=100, description="Pass-through mode: bound on orders held in memory."
    )
    push_max_age_seconds: float = Field(
        default=72 * 3600,
        gt=0,
        description="Inbound pushes whose signed timestamp is older than this are refused "
        "as replays (message ids seen within the window are deduplicated).",
    )
    push_receipt_retention_days: float = Field(
        default=7, gt=0, description="How long inbound push message ids are remembered."
    )
    auth_failures_per_minute: int = Field(
        default=20,
        ge=1,
        description="Failed API-key attempts allowed per client address per minute before "
        "that address gets 429 (brute-force protection).",
    )
    pii_decrypt_per_minute: int = Field(
        default=60,
        ge=1,
        description="Receivers (orders) an API key may decrypt per minute through platform "
        "decrypt calls (e.g. Taobao OAID decrypt); each is audited.",
    )
    audit_retention_days: float = Field(
        default=365, gt=0, description="How long reveal/decrypt audit records are kept."
    )
    sync_log_retention_days: float = Field(
        default=14,
        gt=0,
        description="How long the sync log (every platform call and push, with its outcome "
        "and failure reason) is kept; pruned by the sync worker.",
    )

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> Settings:
        lease = self.webhook_lease_seconds
        if lease is not None and lease <= self.webhook_timeout_seconds:
            raise ValueError(
                "SHOPBRIDGE_WEBHOOK_LEASE_SECONDS must be longer than "
                "SHOPBRIDGE_WEBHOOK_TIMEOUT_SECONDS, or a live attempt could lose its claim"
            )
        return self

    @model_validator(mode="after")
    def _receipts_outlast_the_replay_window(self) -> Settings:
        # A push is deduplicated by its message id only while its receipt is kept; after that
        # only its timestamp stops a replay. Pruning receipts before pushes are too old to be
        # accepted would open a window in which a captured push is applied again.
        if self.push_receipt_retention_days * 86400 <= self.push_max_age_seconds:
            raise ValueError(
                "SHOPBRIDGE_PUSH_RECEIPT_RETENTION_DAYS must be longer than "
                "SHOPBRIDGE_PUSH_MAX_AGE_SECONDS, or a replayed push could be accepted twice"
            )
        return self

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
