"""Byte sources: S3 and local folders behind one small interface, plus the block cache.

Nothing outside this package imports boto3 (S3 here, and the Lambda client that asks the converter).
"""
