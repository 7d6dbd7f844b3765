"""Configuration of one Taobao (TOP) sandbox: one app, one authorised seller (one shop)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Every TMC topic the sandbox publishes.
EMITTED_TOPICS: tuple[str, ...] = (
    "taobao_trade_TradeCreate",
    "taobao_trade_TradeBuyerPay",
    "taobao_trade_TradeBuyerStepPay",
    "taobao_trade_TradeChanged",
    "taobao_trade_TradeSellerShip",
    "taobao_trade_TradePartlySellerShip",
    "taobao_trade_TradeSuccess",
    "taobao_trade_TradeClose",
    "taobao_trade_TradeMemoModified",
    "taobao_trade_TradePartlyRefund",
    "taobao_refund_RefundCreated",
    "taobao_refund_RefundSellerAgreeAgreement",
    "taobao_refund_RefundSellerRefuseAgreement",
    "taobao_refund_RefundBuyerReturnGoods",
    "taobao_refund_RefundClosed",
    "taobao_refund_RefundSuccess",
)


def load_zone(name: str) -> tzinfo:
    """Return the tzinfo for an IANA zone name (fixed +08:00 if there is no tz database)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        if name in ("Asia/Shanghai", "Asia/Chongqing", "PRC"):
            return timezone(timedelta(hours=8), name)
        if name in ("UTC", "Etc/UTC"):
            return UTC
        raise ValueError(f"unknown timezone: {name}") from exc


class TaobaoSandboxOptions(BaseModel):
    """Everything that defines a Taobao sandbox run.

    The defaults give a working shop: app key ``12345678``, the session (access token)
    ``6100sandbox0session0key`` of seller ``演示小店``, 50 trades most of which changed in
    the last day, TMC enabled for the seller, and a generous call limit.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    app_key: str = Field(default="12345678", min_length=1, max_length=64)
    """The app key (``app_key`` system parameter)."""
    app_secret: str = Field(default="sandbox-app-secret", min_length=1)
    """The app secret: verifies every request signature and signs HTTP pushes."""
    access_token: str = Field(default="6100sandbox0session0key", min_length=1)
    """The seller's session key (the TOP ``session`` system parameter)."""
    seller_nick: str = Field(default="演示小店", min_length=1, max_length=64)
    seller_id: int = Field(default=2_201_234_567_890, ge=1)
    """The seller's numeric user id (``user_id`` of TMC messages)."""
    shop_type: Literal["C", "B"] = "C"
    """``C`` = Taobao shop, ``B`` = Tmall shop (``seller_type`` of sub-orders)."""
    timezone: str = "Asia/Shanghai"
    """Zone of every ``yyyy-MM-dd HH:mm:ss`` time on the wire (TOP: GMT+8)."""
    seed: int = Field(default=50, ge=0, le=100_000)
    """Trades created at start; most of them modified within the last day."""
    seed_days: int = Field(default=14, ge=1, le=90)
    """Creation times of seeded trades spread over this many days."""
    random_seed: int = 1
    """Seed of every generated value (ids, buyers, amounts, scenario choices)."""
    start_time: datetime | None = None
    """Pin "now" for seeding (timezone-aware) to make seeded timestamps reproducible."""
    push_url: str | None = None
    """If set, every TMC message is also POSTed here as JSON (a sandbox convenience)."""
    orders_per_second: float = Field(default=0.0, ge=0.0, le=1000.0)
    """Live stream: new trades per second, with as many status changes; 0 = off."""
    default_format: Literal["json", "xml"] = "json"
    """Response format when the request has no ``format`` (real TOP defaults to xml)."""
    timestamp_tolerance_seconds: float = Field(default=600.0, gt=0)
    """A ``timestamp`` further than this from the gateway clock answers code 31."""
    call_limit: int = Field(default=1000, ge=0)
    """Calls per app in each ``call_limit_window_seconds``; 0 = unlimited."""
    call_limit_window_seconds: float = Field(default=1.0, gt=0)
    call_limit_ban_seconds: float = Field(default=1.0, ge=0)
    """How long an app that went over the limit is refused (code 7)."""
    denied_apis: tuple[str, ...] = ()
    """API names the app has no permission for (code 11, isv.permission-api-package-limit)."""
    tmc_permitted: bool = True
    """The seller starts with TMC enabled (as after ``taobao.tmc.user.permit``)."""
    tmc_group: str = Field(default="default", min_length=1)
    """The TMC user group the seller belongs to (``group_name`` of consume/confirm)."""
    tmc_extra_groups: tuple[str, ...] = ()
    """Other user groups the app has (empty for this seller); unknown groups are errors."""
    tmc_visibility_timeout_seconds: float = Field(default=60.0, gt=0)
    """A consumed message that is not confirmed within this time is delivered again."""
    tmc_retention: int = Field(default=20_000, ge=100)
    """Confirmed messages kept for the control API (oldest are forgotten first)."""
    validate_tracking_numbers: bool = True
    """Check ``out_sid`` against the carrier's ``reg_mail_no`` pattern (error B60)."""
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(default=6, ge=1, le=50)
    webhook_backoff_seconds: float = Field(default=1.0, ge=0)
    webhook_backoff_max_seconds: float = Field(default=600.0, ge=0)
    control_token: str | None = None
    """If set, ``/_sandbox/*`` requires header ``X-Sandbox-Token`` with this value."""

    @field_validator("push_url")
    @classmethod
    def _check_push_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("push_url must be an absolute http(s) URL")
        return value

    @field_validator("start_time")
    @classmethod
    def _check_start_time(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("start_time must be timezone-aware")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        load_zone(value)
        return value

    @property
    def zone(self) -> tzinfo:
        return load_zone(self.timezone)

    @property
    def tmc_groups(self) -> frozenset[str]:
        return frozenset((self.tmc_group, "default", *self.tmc_extra_groups))
