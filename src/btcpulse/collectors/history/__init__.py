"""History on day one: venue candles from public REST APIs, produced as ``Bar`` events.

``formats`` knows each venue's candle endpoint (Coinbase Exchange candles, Binance klines),
``client`` fetches pages politely (spacing, Retry-After, timeouts, retries with backoff) and
``backfill`` walks the time range page by page, producing each closed candle on the prices
topic and saving a per-(venue, symbol, interval) cursor after every flushed page.
"""
