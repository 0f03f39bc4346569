"""IGTwin scenarios layer."""
