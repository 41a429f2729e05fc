"""Sources that turn local log files into the common run/curve model."""
