"""The live case board for hub staff (and a wall-screen view with no personal data), and the
agency response page for agencies without an adapter."""
