"""The network side: listener, one task per connection, framing, dispatch."""
