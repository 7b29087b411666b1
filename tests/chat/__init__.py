"""The chat driven through Chat against the fake server: turns, models, budget, thinking, continue, switching,
documents, pictures, web search, interrupts, a hostile server, the state machine.
"""
