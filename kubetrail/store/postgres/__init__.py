"""The PostgreSQL state backend: intakes, tokens, alerts shared by every service replica."""
