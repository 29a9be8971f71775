"""Fake remote services that the real bot talks to in end-to-end tests."""
