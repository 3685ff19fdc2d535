from btcpulse.cli import app

app()
