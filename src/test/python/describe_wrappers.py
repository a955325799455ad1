"""Describes the classes of a pyspark wrapper module as JSON, read from its source with the ast module
(pyspark is not imported): for PySparkWrappersTest, which compares them with the Java params.

    python3 describe_wrappers.py src/main/python/sparkmoe/ml.py

Per class: its bases (as written), the Params it declares (name, doc, TypeConverters method), its
getters and setters, the JVM class its constructor creates, its _setDefault arguments, and for
__init__ and setParams whether they are keyword_only, their positional parameters and their
keyword-only parameters with the default values.
"""

import ast
import json
import math
import sys


def value(node):
    """A default's value: a literal, float("nan") / float("inf") as strings "NaN" / "Infinity"."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "float":
        v = float(ast.literal_eval(node.args[0]))
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return ast.literal_eval(node)


def signature(fn):
    args = fn.args
    kw = {a.arg: value(d) if d is not None else {"required": True} for a, d in zip(args.kwonlyargs, args.kw_defaults)}
    return {
        "keyword_only": any(isinstance(d, ast.Name) and d.id == "keyword_only" for d in fn.decorator_list),
        "positional": [a.arg for a in args.posonlyargs + args.args],
        "varargs": args.vararg is not None or args.kwarg is not None,
        "kwonly": kw,
        "order": [a.arg for a in args.kwonlyargs],
    }


def describe(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    classes = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        c = {"bases": [ast.unparse(b) for b in node.bases], "params": {}, "getters": [], "setters": [], "methods": []}
        for item in node.body:
            target = None
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                target, call = item.target.id, item.value
            elif isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name):
                target, call = item.targets[0].id, item.value
            if target and isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Param":
                kw = {k.arg: k.value for k in call.keywords}
                conv = kw.get("typeConverter")
                c["params"][target] = {
                    "name": ast.literal_eval(call.args[1]),
                    "doc": ast.literal_eval(call.args[2]),
                    "converter": conv.attr if isinstance(conv, ast.Attribute) else None,
                }
            if isinstance(item, ast.FunctionDef):
                c["methods"].append(item.name)
                if item.name.startswith("get") and len(item.name) > 3:
                    c["getters"].append(item.name)
                if item.name.startswith("set") and item.name not in ("setParams",) and len(item.name) > 3:
                    c["setters"].append(item.name)
                if item.name in ("__init__", "setParams"):
                    c[item.name] = signature(item)
                for sub in ast.walk(item):
                    if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
                        if sub.func.attr == "_setDefault" and item.name == "__init__":
                            c["setDefault"] = {k.arg: value(k.value) for k in sub.keywords}
                        if sub.func.attr == "_new_java_obj":
                            c["java_class"] = ast.literal_eval(sub.args[0])
        classes[node.name] = c
    names = [n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == "__all__"]
    return {"classes": classes, "all": ast.literal_eval(names[0].value) if names else None, "docstring": ast.get_docstring(tree)}


if __name__ == "__main__":
    json.dump(describe(sys.argv[1]), sys.stdout, indent=1, allow_nan=False)
