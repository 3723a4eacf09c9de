"""The outside world: licensing sources, texts to callers, alert delivery."""
