"""ShopBridge: one API for every sales platform a merchant sells on."""

__version__ = "0.1.0"
