"""autopandas."""
