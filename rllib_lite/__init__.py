"""rllib_lite."""
