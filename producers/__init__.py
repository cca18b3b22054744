"""Things that observe the world and append events."""
