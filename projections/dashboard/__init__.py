"""The read-only dashboard over a lake (`ledger serve`)."""
