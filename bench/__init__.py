"""Performance benchmarks (not tests): they print figures and never assert timings. See bench/README.md."""
