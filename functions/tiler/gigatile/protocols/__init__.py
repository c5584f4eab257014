"""Viewer protocols: each a router with its own parameter parsing over the one Tiler."""
