"""The REPL loop driven through prompt_toolkit's pipe input: keys in, state and lines out."""
