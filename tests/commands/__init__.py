"""The slash-commands, dispatched through the registry against the fake server."""
