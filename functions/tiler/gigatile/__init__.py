"""gigatile: a serverless tiler for gigapixel images kept in S3."""

__version__ = "0.1.0"
