"""IGTwin assessment layer."""
