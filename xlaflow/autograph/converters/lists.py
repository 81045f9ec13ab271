"""`items.append(x)` -> `items = ag__.list_append(items, x)` for lists local to the function.

Rebinding makes the list part of the state of any loop or branch around it, so a tensor loop
can stack what was appended (TF's TensorArray pattern) instead of leaking traced values.
"""

from __future__ import annotations

import ast

from xlaflow.autograph.pyct import rebinding, templates


class _Lists(rebinding.Rebinder):
    def rewrite(self, node, names):
        call = rebinding.single_argument_call(node, "append")
        if call is None or not isinstance(call.func.value, ast.Name) or \
                call.func.value.id not in names:
            return None
        return templates.replace("target = ag__.list_append(target, item)", node,
                                 target=call.func.value.id, item=call.args[0])


transform = _Lists.transform
