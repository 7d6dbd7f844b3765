"""The official legacy Python TOP SDK (``top``, PyPI ``taobao-openapi`` 1.1.0, a repackaging of
Taobao's ``taobao-sdk-python-20210816``) against the sandbox, with only its host and port
changed. It signs with md5, sends epoch-millisecond timestamps, system parameters in the
query string and business parameters in the body (multipart when a file is attached).

The SDK is not a project dependency: these tests run only where it is installed
(``pip install taobao-openapi==1.1.0``) and are skipped otherwise.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.sandbox.taobao.conftest import APP_KEY, SECRET, SESSION, Tb, top_time

top = pytest.importorskip("top")
base = pytest.importorskip("top.api.base")
rest = pytest.importorskip("top.api")


def _endpoint(tb: Tb) -> tuple[str, int]:
    parts = urlsplit(tb.base_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _request(cls: Any, tb: Tb, **values: Any) -> Any:
    host, port = _endpoint(tb)
    request = cls(host, port)
    request.set_app_info(top.appinfo(APP_KEY, SECRET))
    for key, value in values.items():
        setattr(request, key, value)
    return request


class LogisticsOfflineSendRequest(base.RestApi):  # type: ignore[misc]
    """Written the way the SDK's generated request classes are."""

    def __init__(self, domain: str = "gw.api.taobao.com", port: int = 80) -> None:
        base.RestApi.__init__(self, domain, port)
        self.tid = None
        self.out_sid = None
        self.company_code = None
        self.sub_tid = None
        self.is_split = None

    def getapiname(self) -> str:
        return "taobao.logistics.offline.send"


def test_sdk_increment_paging_and_fullinfo(tb: Tb) -> None:
    now = datetime.now(UTC)
    page_no, tids = 1, []
    while True:
        request = _request(
            rest.TradesSoldIncrementGetRequest,
            tb,
            fields="tid,tid_str,status,modified",
            start_modified=top_time(now - timedelta(hours=23)),
            end_modified=top_time(now),
            page_size=20,
            page_no=page_no,
            use_has_next=True,  # sent as "True", as the SDK stringifies it
        )
        body = request.getResponse(SESSION)["trades_sold_increment_get_response"]
        tids.extend(t["tid"] for t in body.get("trades", {}).get("trade", []))
        if not body["has_next"]:
            break
        page_no += 1
    assert page_no >= 2 and len(tids) == len(set(tids))
    detail = _request(rest.TradeFullinfoGetRequest, tb, tid=tids[0], fields="tid,orders,oaid")
    trade = detail.getResponse(SESSION)["trade_fullinfo_get_response"]["trade"]
    assert trade["tid"] == tids[0] and trade["orders"]["order"]


def test_sdk_errors_raise_top_exception(tb: Tb) -> None:
    request = _request(rest.TradeFullinfoGetRequest, tb, tid=1, fields="tid")
    with pytest.raises(base.TopException) as caught:
        request.getResponse(SESSION)
    assert caught.value.errorcode == 15 and caught.value.subcode == "isv.trade-not-exist"
    with pytest.raises(base.TopException) as caught:
        request.getResponse("6100wrong")
    assert caught.value.errorcode == 27


def test_sdk_ship_and_multipart_refuse(tb: Tb) -> None:
    trade = tb.create(line_count=1)
    send = _request(
        LogisticsOfflineSendRequest,
        tb,
        tid=trade["tid"],
        out_sid="SF1234567890123",
        company_code="SF",
    )
    assert send.getResponse(SESSION)["logistics_offline_send_response"]["shipping"] == {
        "is_success": True
    }
    assert tb.get("shipments", tid=trade["tid"])["shipments"][0]["out_sid"] == "SF1234567890123"

    refund = tb.act(f"trades/{trade['tid']}/refunds")["refund"]
    refuse = _request(
        rest.RefundRefuseRequest,
        tb,
        refund_id=refund["refund_id"],
        # The SDK builds multipart bodies as str (sent latin-1) and cannot read binary file
        # objects under Python 3: a text handle and an ASCII message are what it can send.
        refuse_message="Goods already shipped, please apply after receipt",
        refuse_proof=base.FileItem("proof.jpg", io.StringIO("not really a jpeg")),
    )
    body = refuse.getResponse(SESSION)["refund_refuse_response"]
    assert body["is_success"] is True and body["refund"]["status"] == "SELLER_REFUSE_BUYER"
