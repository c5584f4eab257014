"""Derived pyramids: when a source is read from one, where it lives, and asking for it.

`policy` decides for the tiler (which sources want a pyramid, its key, when to look for
it again, and when to ask the converter); `pyramid` converts; `converter` is the Lambda
that converts on upload events or when asked; `on_demand` asks it.
"""
