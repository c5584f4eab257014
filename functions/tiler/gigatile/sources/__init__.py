"""Byte sources: S3 and local folders behind one small interface, plus the block cache.

Nothing outside this package imports boto3.
"""
