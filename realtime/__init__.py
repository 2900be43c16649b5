"""Live feed core: committed domain events fanned out to WebSocket subscribers."""
