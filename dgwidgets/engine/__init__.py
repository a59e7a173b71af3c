"""The local engine: VAD, recognizer and the pure streaming transcriber (no I/O inside)."""
