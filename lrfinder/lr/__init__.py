"""Learning rates: the range test, suggestions from its curves, confirmation, selection."""
