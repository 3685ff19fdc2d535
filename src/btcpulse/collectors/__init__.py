"""Producers: news feeds, exchange trade streams and the offline replay."""
