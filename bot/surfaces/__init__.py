"""Chat surfaces: thin adapters that turn platform events into core calls and views into messages."""
