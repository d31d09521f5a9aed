"""Routing: assembled cases and decisions in, outcome notifications for everyone involved out."""
