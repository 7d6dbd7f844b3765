"""Delivery of outbox events to ERPs: feed sequencing, signed webhooks, retries, replay."""
