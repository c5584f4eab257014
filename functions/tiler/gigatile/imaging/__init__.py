"""Pixel work: opening source levels with shrink-on-load, rendering and encoding tiles."""
