"""Fixtures: a real Taobao (TOP) sandbox on a free loopback port, an independent TOP client,
and an HTTP receiver for the optional TMC push.

The client below is written from TOP's published protocol (system parameters, sorted
``k+v`` signing with md5 / hmac / hmac-sha256) and shares no code with the sandbox. One
uvicorn server (background thread) serves the whole package; every test starts from a
fresh shop (``POST /_sandbox/reset``) and an empty receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.sandbox.taobao import TaobaoSandboxOptions, create_app

os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

APP_KEY = "21001234"
SECRET = "tb-test-secret-0001"
SESSION = "6100e2b7test0session0key0001"
SELLER = "测试旗舰店"
SEED = 130
RANDOM_SEED = 7
GMT8 = timezone(timedelta(hours=8))
ORDER_FIELDS = (
    "tid,tid_str,status,type,created,modified,pay_time,consign_time,end_time,payment,"
    "total_fee,post_fee,discount_fee,adjust_fee,buyer_open_uid,buyer_nick,seller_nick,"
    "receiver_name,receiver_state,receiver_city,receiver_district,receiver_town,"
    "receiver_address,receiver_zip,receiver_mobile,receiver_phone,oaid,step_trade_status,"
    "step_paid_fee,seller_memo,seller_flag,buyer_message,invoice_kind,invoice_name,"
    "invoice_type,shipping_type,is_part_consign,orders"
)


def top_time(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(GMT8).strftime("%Y-%m-%d %H:%M:%S")


def parse_top_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=GMT8)


# ---------------------------------------------------------------------------------------
# an independent TOP client


def top_sign(params: dict[str, str], secret: str, method: str) -> str:
    text = "".join(f"{k}{params[k]}" for k in sorted(params) if k != "sign")
    if method == "md5":
        return hashlib.md5((secret + text + secret).encode()).hexdigest().upper()
    digest = hashlib.md5 if method == "hmac" else hashlib.sha256
    return hmac.new(secret.encode(), text.encode(), digest).hexdigest().upper()


@dataclass
class TopClient:
    """System parameters in the query string, business parameters in the form body
    (as the official SDKs send them), signed over both."""

    http: httpx.Client
    app_key: str = APP_KEY
    secret: str = SECRET
    session: str | None = SESSION
    sign_method: str = "md5"
    path: str = "/router/rest"

    def request(
        self,
        api: str,
        *,
        session: str | bool | None = True,
        sign_method: str | None = None,
        fmt: str = "json",
        simplify: bool = False,
        timestamp: str | None = None,
        http_method: str = "POST",
        system: dict[str, str] | None = None,
        drop: tuple[str, ...] = (),
        secret: str | None = None,
        timeout: float | None = None,
        **business: Any,
    ) -> httpx.Response:
        method = sign_method or self.sign_method
        sysp: dict[str, str] = {
            "method": api,
            "app_key": self.app_key,
            "timestamp": timestamp or top_time(),
            "format": fmt,
            "v": "2.0",
            "sign_method": method,
            "partner_id": "shopbridge-test",
        }
        token = self.session if session is True else session or None
        if token:
            sysp["session"] = token
        if simplify:
            sysp["simplify"] = "true"
        sysp.update(system or {})
        biz = {k: str(v) for k, v in business.items() if v is not None}
        for name in drop:
            sysp.pop(name, None)
            biz.pop(name, None)
        signing_method = sysp.get("sign_method") or "md5"
        sign = top_sign({**sysp, **biz}, secret or self.secret, signing_method)
        if "sign" not in drop:
            sysp["sign"] = sign
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            kwargs["timeout"] = timeout
        if http_method == "GET":
            return self.http.get(self.path, params={**sysp, **biz}, **kwargs)
        return self.http.request(http_method, self.path, params=sysp, data=biz, **kwargs)

    def call(self, api: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(api, **kwargs)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def ok(self, api: str, **kwargs: Any) -> dict[str, Any]:
        """Call and unwrap ``<api>_response``; fail on ``error_response``."""
        data = self.call(api, **kwargs)
        assert "error_response" not in data, data
        root = api.removeprefix("taobao.").replace(".", "_") + "_response"
        assert set(data) == {root}, data
        body: dict[str, Any] = data[root]
        return body

    def error(self, api: str, **kwargs: Any) -> dict[str, Any]:
        data = self.call(api, **kwargs)
        assert set(data) == {"error_response"}, data
        err: dict[str, Any] = data["error_response"]
        assert isinstance(err["code"], int)
        assert err["request_id"]
        return err


# ---------------------------------------------------------------------------------------
# push receiver


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str = ""
    requests: list[Received] = field(default_factory=list)
    fail_next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.fail_next = 0

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 8.0
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snapshot = self.received()
            if predicate(snapshot):
                return snapshot
            time.sleep(0.02)
        raise AssertionError(f"receiver condition not met; got {len(self.received())} pushes")


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver._lock:
                status = 500 if receiver.fail_next > 0 else 200
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                receiver.requests.append(
                    Received({k.lower(): v for k, v in self.headers.items()}, body)
                )
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture(scope="session")
def tmc_receiver() -> Iterator[Receiver]:
    recv = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recv))
    server.daemon_threads = True
    recv.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="tmc-receiver", daemon=True)
    thread.start()
    yield recv
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------------------------------
# sandbox


@pytest.fixture(scope="session")
def tb_server(tmc_receiver: Receiver) -> Iterator[RunningServer]:
    options = TaobaoSandboxOptions(
        app_key=APP_KEY,
        app_secret=SECRET,
        access_token=SESSION,
        seller_nick=SELLER,
        seed=SEED,
        random_seed=RANDOM_SEED,
        push_url=f"{tmc_receiver.url}/tmc",
        tmc_visibility_timeout_seconds=1.0,
        tmc_extra_groups=("erp_b",),
        webhook_timeout_seconds=1.0,
        webhook_backoff_seconds=0.05,
        webhook_max_attempts=3,
    )
    server = start_in_thread(create_app(options))
    yield server
    server.stop()


@dataclass
class Tb:
    """Handles for one test: the TOP client, the control client, the push receiver."""

    base_url: str
    top: TopClient
    control: httpx.Client
    receiver: Receiver

    def create(self, **body: Any) -> dict[str, Any]:
        response = self.control.post("/_sandbox/trades", json=body)
        assert response.status_code == 201, response.text
        trade: dict[str, Any] = response.json()["trades"][0]
        return trade

    def act(self, path: str, **body: Any) -> dict[str, Any]:
        response = self.control.post(f"/_sandbox/{path}", json=body or None)
        assert response.status_code in (200, 201), response.text
        data: dict[str, Any] = response.json()
        return data

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.control.get(f"/_sandbox/{path}", params=params)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def messages(self, **params: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.get("tmc/messages", **params)["messages"]
        return rows


@pytest.fixture
def tb(tb_server: RunningServer, tmc_receiver: Receiver) -> Iterator[Tb]:
    base = tb_server.base_url
    with (
        httpx.Client(base_url=base, timeout=10, trust_env=False) as api,
        httpx.Client(base_url=base, timeout=30, trust_env=False) as control,
    ):
        assert control.post("/_sandbox/reset").status_code == 200
        tmc_receiver.clear()
        yield Tb(base, TopClient(api), control, tmc_receiver)
