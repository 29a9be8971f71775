"""Channels turn a platform's updates into events and render replies on it."""
