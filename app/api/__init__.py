"""REST and WebSocket API: one router per area, all built from the runtime."""
