"""Intake: referrals in, validated, deduplicated, linked to open cases, RAG-rated, acknowledged."""
