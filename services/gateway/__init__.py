"""The HTTP referral gateway: source systems that do not speak Kafka post referrals as JSON
and read their outcomes; the gateway writes to Kafka as each source system's own principal."""
