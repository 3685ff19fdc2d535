"""The web app: REST API, WebSocket push and the dashboard."""
