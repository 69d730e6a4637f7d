"""Client telemetry (KIP-714): client-metrics subscriptions and the metrics clients push."""
