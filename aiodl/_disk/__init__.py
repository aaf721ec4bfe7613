"""_disk."""
