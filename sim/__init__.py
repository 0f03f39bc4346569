"""IGTwin sim layer."""
