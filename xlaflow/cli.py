"""The `xlaflow` command: `serve` (like tensorflow_model_server) and `saved_model
show|run` (like TF's saved_model_cli).

It reads exports through xlaflow.saving.loaded only, so it never imports model code.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def _tensor_lines(kind, specs):
    from xlaflow.saving.dtype_names import tf_name
    lines = [f"The given SavedModel SignatureDef contains the following {kind}(s):"]
    for spec in specs:
        shape = ", ".join("-1" if d is None else str(d) for d in spec["shape"])
        shape = f"({shape}{',' if len(spec['shape']) == 1 else ''})"
        lines += [f"  {kind}s['{spec['name']}'] tensor_info:",
                  f"      dtype: {tf_name(spec['dtype'])}",
                  f"      shape: {shape}",
                  f"      name: {spec['name']}"]
    return lines


def _signature_lines(signature):
    return [*_tensor_lines("input", signature.inputs), *_tensor_lines("output",
                                                                        signature.outputs),
            f"Method name is: {signature.method_name}"]


def show(args):
    from xlaflow.saving import loaded
    loaded.enable_x64()  # an export with 64-bit tensors loads only in 64-bit mode
    model = loaded.load(args.dir)
    if args.signature_def:
        if args.signature_def not in model.signatures:
            raise SystemExit(f"error: signature {args.signature_def!r} is not in {args.dir}; "
                             f"it has {sorted(model.signatures)}")
        print("\n".join(_signature_lines(model.signatures[args.signature_def])))
    elif args.all:
        for name in sorted(model.signatures):
            print(f"\nsignature_def['{name}']:")
            print("\n".join(_signature_lines(model.signatures[name])))
    else:
        print("The given SavedModel contains the following SignatureDef keys:")
        for name in sorted(model.signatures):
            print(f'SignatureDef key: "{name}"')


def _parse_inputs(text):
    """'x=a.npy;y=b.npy' (or 'x=c.npz[key]') -> {name: array}."""
    out = {}
    for item in filter(None, (part.strip() for part in (text or "").split(";"))):
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise SystemExit(f"error: --inputs entry {item!r} must look like name=file.npy")
        key = None
        if file.endswith("]") and "[" in file:
            file, key = file[:-1].split("[", 1)
        if not os.path.isfile(file):
            raise SystemExit(f"error: --inputs {name}: no such file {file!r}")
        data = np.load(file, allow_pickle=False)  # never unpickle what we are given
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                names = list(data.files)
                if key is None and len(names) != 1:
                    raise SystemExit(f"error: --inputs {name}: {file} holds {names}; pick one "
                                     f"with {name}={file}[key]")
                data = data[key or names[0]]
        out[name] = data
    return out


def run(args):
    from xlaflow.saving import loaded
    loaded.enable_x64()
    model = loaded.load(args.dir)
    if args.signature_def not in model.signatures:
        raise SystemExit(f"error: signature {args.signature_def!r} is not in {args.dir}; "
                         f"it has {sorted(model.signatures)}")
    signature = model.signatures[args.signature_def]
    try:
        outputs = signature(**_parse_inputs(args.inputs))
    except loaded.InputError as exc:
        raise SystemExit(f"error: {exc}") from None
    for name, value in outputs.items():
        value = np.asarray(value)
        if args.outdir:
            os.makedirs(args.outdir, exist_ok=True)
            target = os.path.join(args.outdir, f"{name.replace('/', '_')}.npy")
            if os.path.exists(target) and not args.overwrite:
                raise SystemExit(f"error: {target} exists; pass --overwrite")
            np.save(target, value)
            print(f"Output {name} is saved to {target}")
        else:
            print(f"Result for output key {name}:")
            print(value)


def parser():
    top = argparse.ArgumentParser(prog="xlaflow", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="the model server; `xlaflow serve --help` for flags")
    saved = commands.add_parser("saved_model", help="inspect and run exported models")
    verbs = saved.add_subparsers(dest="verb", required=True)
    show_p = verbs.add_parser("show", help="list signatures, or one signature's tensors")
    show_p.add_argument("--dir", required=True, help="the export directory")
    show_p.add_argument("--signature_def", help="the signature to describe")
    show_p.add_argument("--all", action="store_true", help="describe every signature")
    show_p.add_argument("--tag_set", default="serve", help="accepted for compatibility")
    show_p.set_defaults(handler=show)
    run_p = verbs.add_parser("run", help="run a signature on .npy/.npz inputs")
    run_p.add_argument("--dir", required=True)
    run_p.add_argument("--signature_def", default="serving_default")
    run_p.add_argument("--inputs", required=True, help="'x=file.npy;y=file.npz[key]'")
    run_p.add_argument("--outdir", help="write each output to OUTDIR/<name>.npy")
    run_p.add_argument("--overwrite", action="store_true")
    run_p.add_argument("--tag_set", default="serve", help="accepted for compatibility")
    run_p.set_defaults(handler=run)
    return top


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["serve"]:  # its flags are tensorflow_model_server's: parsed there
        from xlaflow.serving import server
        return server.main(argv[1:])
    args = parser().parse_args(argv)
    try:
        args.handler(args)
    except (FileNotFoundError, ValueError) as exc:  # incl. CorruptSaveError: say, don't trace
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
