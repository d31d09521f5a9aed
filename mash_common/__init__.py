"""Shared contracts, serde, topic names and settings for every mash-hub component."""
