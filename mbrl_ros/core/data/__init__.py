"""Recorded data: rosbag2 chunks, time series and the transitions a model learns from."""
