"""neurocuts."""
