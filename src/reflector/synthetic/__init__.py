"""Generated speech and meetings with known words and speaker turns, for tests and benchmarks."""
