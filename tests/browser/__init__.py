"""Tests that run the widgets in a real JupyterLab in Debian's Chromium (marked ``browser``)."""
