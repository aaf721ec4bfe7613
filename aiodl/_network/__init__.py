"""_network."""
