"""Neutral helpers every layer may use (clock, JSON, password hashing, task plumbing): they import
nothing of the project but `config`."""
