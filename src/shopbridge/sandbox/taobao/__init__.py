"""Taobao/Tmall sandbox: a local HTTP server speaking the Taobao Open Platform (TOP) wire
protocol.

Point an official-style TOP client at ``http://HOST:PORT/router/rest`` instead of
``https://eco.taobao.com/router/rest`` and it behaves like a shop: TOP system parameters
and the md5 / hmac / hmac-sha256 signatures, ``<api>_response`` and ``error_response``
envelopes (JSON, simplified JSON, XML) with TOP's error codes, trades with sub-orders in
every status (presale included), masked buyer data with an OAID, split shipping, stock
updates, refunds, the app call limit, TMC messages (consume/confirm with redelivery), and
privacy shipping: Cainiao e-waybills by OAID (``cainiao.waybill.ii.get``, refusing any
plaintext recipient) and OAID decryption (``taobao.top.oaid.decrypt``).
``/_sandbox/*`` is the control plane (see docs/sandboxes.md).

Layout (the same roles as ``sandbox/shopify``):

* ``options`` - :class:`TaobaoSandboxOptions`;
* ``state`` - shop data and business rules;
* ``scenarios`` - deterministic catalog, buyers, trades, live stream;
* ``envelope`` - wire shapes: envelopes, errors, masking, resource JSON;
* ``signing`` - TOP request signatures (and the HTTP push signature);
* ``routes`` - the ``/router/rest`` pipeline and API handlers;
* ``privacy`` - e-waybills, cloud-print data and OAID decryption;
* ``push`` - TMC queue, publisher and optional HTTP push;
* ``control`` - ``/_sandbox`` API;
* ``app`` - :func:`create_app` and :func:`run`.
"""

from shopbridge.sandbox.taobao.app import TaobaoSandbox, create_app, run
from shopbridge.sandbox.taobao.options import EMITTED_TOPICS, TaobaoSandboxOptions

__all__ = ["EMITTED_TOPICS", "TaobaoSandbox", "TaobaoSandboxOptions", "create_app", "run"]
