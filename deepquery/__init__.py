"""deepquery."""
