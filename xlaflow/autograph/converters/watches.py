"""`tape.watch(y)` -> `y = ag__.watch(tape, y)` for a local `y`.

Rebinding lets a gradient tape watch a tensor computed inside its own block: the tape
returns the tensor plus a zero input it can differentiate with respect to (see
xf.GradientTape._xf_watch). For any other object `ag__.watch` just calls `.watch(y)` and
keeps `y`; the rebinding still makes `y` state of an enclosing tensor loop, where it must
then hold a tensor.
"""

from __future__ import annotations

import ast

from xlaflow.autograph.pyct import rebinding, templates


class _Watches(rebinding.Rebinder):
    def rewrite(self, node, names):
        call = rebinding.single_argument_call(node, "watch")
        if call is None or not isinstance(call.args[0], ast.Name) or \
                call.args[0].id not in names:
            return None
        return templates.replace("target = ag__.watch(owner, target)", node,
                                 target=call.args[0].id, owner=call.func.value)


transform = _Watches.transform
