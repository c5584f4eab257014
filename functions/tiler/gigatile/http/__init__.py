"""HTTP concerns shared by every protocol: errors as JSON, cache headers, CORS."""
