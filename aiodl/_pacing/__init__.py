"""_pacing."""
