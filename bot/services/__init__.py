"""Domain services: the rules; flows call them, they never format chat messages."""
