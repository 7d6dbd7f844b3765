"""Benchmarks anyone can re-run (`shopbridge bench SCENARIO --json`): every speed figure
ShopBridge claims comes from here, never from timed assertions in tests."""
