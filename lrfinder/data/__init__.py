"""Data: sources, cleaning into features and a label, splitting and scaling."""
