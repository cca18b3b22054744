"""Read models rebuilt from the log."""
