"""Fresh names for generated code that cannot collide with the user's names."""

from __future__ import annotations

import ast


class Namer:
    """Hands out names not used anywhere in the function being converted."""

    def __init__(self, tree):
        self.used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        self.used |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
        self.used |= {n.name for n in ast.walk(tree)
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}

    def new(self, base):
        candidate, i = base, 1
        while candidate in self.used:
            candidate, i = f"{base}_{i}", i + 1
        self.used.add(candidate)
        return candidate
