"""Jupyter widgets of the kit."""
