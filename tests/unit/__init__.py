"""The pieces, one module at a time: client and SSE parsing, config and trust, profile, render, sanitize."""
