"""btcpulse: real-time Bitcoin news and price analytics."""

__version__ = "0.1.0"
