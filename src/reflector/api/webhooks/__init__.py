"""Outgoing webhooks: endpoints, their delivery log and test deliveries."""
