"""Python code tools for AutoGraph: parsing, templates, naming and static analysis (stdlib ast)."""
