"""Speed and scale measurements for tracker: `make bench` (see bench/README.md)."""
