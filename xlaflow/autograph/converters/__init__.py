"""AutoGraph converters: one AST pass per construct, applied in the order of conversion.py."""
