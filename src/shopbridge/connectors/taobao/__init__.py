"""Taobao / Tmall connector (Taobao Open Platform, TOP API 2.0): trades, TMC messages,
offline shipment confirmation, item stock.

Registered in the `shopbridge.connectors` entry-point group as `taobao`. See
`docs/connectors/taobao.md` for the API calls, credentials, settings and the status and
carrier tables.
"""

from shopbridge.connectors.taobao.connector import TaobaoConnector

__all__ = ["TaobaoConnector"]
