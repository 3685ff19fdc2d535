"""The offline replay: recorded real headlines and candles, shifted to now and looped."""
