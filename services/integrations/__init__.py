"""Integrations: the transactional outbox, webhook endpoints and their signed delivery, and the AsyncAPI
document of the live feed and the webhook payloads."""
