"""The embedded aiohttp server: REST API for citizen sessions, and the webhooks."""
