"""IGTwin agents layer."""
