#!/usr/bin/env python3
"""Generates apimachinery/src/protobuf/schema.rs: the Kubernetes protobuf schema as a static table.

The wire layout (field tags and types) comes from the prost bindings of the crates.io crate
`k8s-pb`; the JSON field and definition names come from `k8s-openapi` (the field lists of its
serde implementations and its `Generated from definition` headers), matched by normalised name
(lowercase, only letters and digits: prost's `pod_i_ps` is JSON's `podIPs`, `r#ref` is `$ref`).
Both crates are read from the cargo registry source cache (`cargo fetch` fills it).

Protobuf cannot tell a Go value field from a pointer one: Go writes its value fields even when
they hold the zero value, and its JSON leaves a zero value field tagged `omitempty` out
(`restartPolicy: ""` means "unset"), while a zero pointer field (`replicas: 0`) stays. Which
scalar fields are `omitempty` value fields comes from the Go types of k8s.io/api,
k8s.io/apimachinery, k8s.io/apiextensions-apiserver and k8s.io/kube-aggregator, extracted once
into the committed list scripts/protobuf-omitempty-fields.txt (`--go-types DIR...` rewrites it
from checkouts of those repositories, named by their directory names).

Usage (from the repository root):

    python3 scripts/gen-protobuf-schema.py > apimachinery/src/protobuf/schema.rs
    python3 scripts/gen-protobuf-schema.py --go-types ../api ../apimachinery \
        ../apiextensions-apiserver ../kube-aggregator > apimachinery/src/protobuf/schema.rs

Options: --k8s-pb DIR and --k8s-openapi DIR point at the crates' source directories when they
are not in ~/.cargo/registry/src/*/.
"""

import argparse
import glob
import os
import re
import sys

K8S_PB_VERSION = "0.9.0"
K8S_OPENAPI_VERSION = "0.29.0"
# The Kubernetes version we serve comes first: its names win over newer releases'.
OPENAPI_VERSIONS = ["v1_33", "v1_34", "v1_35", "v1_36", "v1_37"]
# Module trees of k8s-pb that hold API types (metrics and the test group are not served).
PB_ROOTS = {
    "api": "io.k8s.api",
    "apimachinery": "io.k8s.apimachinery",
    "apiextensions_apiserver": "io.k8s.apiextensions-apiserver",
    "kube_aggregator": "io.k8s.kube-aggregator",
}
SKIP_MODULES = ("apimachinery/pkg/apis/testapigroup",)

# Messages whose JSON form is not an object (see the Special enum in protobuf/mod.rs).
SPECIAL = {
    "io.k8s.apimachinery.pkg.api.resource.Quantity": "Quantity",
    "io.k8s.apimachinery.pkg.api.resource.QuantityValue": "Quantity",
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": "Time",
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": "MicroTime",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Duration": "Duration",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": "RawJson",
    "io.k8s.apimachinery.pkg.runtime.RawExtension": "RawJson",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Verbs": "StringList",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON": "RawJson",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray": "SchemaOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool": "SchemaOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray": "SchemaOrStringArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1beta1.JSON": "RawJson",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1beta1.JSONSchemaPropsOrArray": "SchemaOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1beta1.JSONSchemaPropsOrBool": "SchemaOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1beta1.JSONSchemaPropsOrStringArray": "SchemaOrStringArray",
}
# `ExtraValue` (authentication, authorization, certificates) is a list of strings in JSON.
SPECIAL_BY_SHORT_NAME = {"ExtraValue": "StringList"}

SCALARS = {
    "string": "String",
    "bool": "Bool",
    "int32": "Int32",
    "int64": "Int64",
    "double": "Double",
    "bytes": "Bytes",
}


def norm(name):
    """Lowercase, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def find_crate(name, version, given):
    if given:
        return given
    hits = sorted(glob.glob(os.path.expanduser(f"~/.cargo/registry/src/*/{name}-{version}/src")))
    if not hits:
        sys.exit(f"{name}-{version} is not in the cargo registry cache; run `cargo fetch` first")
    return hits[0]


def read_openapi(root):
    """definition name -> {normalised field name: JSON name}, for every served version."""
    defs = {}
    for version in OPENAPI_VERSIONS:
        vroot = os.path.join(root, version)
        if not os.path.isdir(vroot):
            continue
        for path in sorted(glob.glob(os.path.join(vroot, "**", "*.rs"), recursive=True)):
            text = open(path, encoding="utf-8").read()
            m = re.match(r"// Generated from definition (\S+)", text)
            if not m:
                continue
            fields = defs.setdefault(m.group(1), {})
            d = re.search(r"deserialize_struct\(\s*[^,]+,\s*&\[(.*?)\]", text, re.S)
            if d:
                for json_name in re.findall(r'"([^"]+)"', d.group(1)):
                    fields.setdefault(norm(json_name), json_name)
    return defs


STRUCT_RE = re.compile(r"^pub struct (\w+) \{(\}|.*?^\})", re.S | re.M)
FIELD_RE = re.compile(r"#\[prost\(([^]]*)\)\]\s*pub (?:r#)?(\w+):\s*(.*?),\s*(?=#\[prost|\Z)", re.S)
RESOURCE_RE = re.compile(
    r"impl crate::Resource for (\w+) \{.*?API_VERSION: &'static str = \"([^\"]*)\";", re.S
)


def module_files(root):
    for path in sorted(glob.glob(os.path.join(root, "**", "mod.rs"), recursive=True)):
        rel = os.path.relpath(os.path.dirname(path), root)
        top = rel.split(os.sep)[0]
        if top not in PB_ROOTS or rel.replace(os.sep, "/").startswith(SKIP_MODULES):
            continue
        yield rel.split(os.sep), path


def package_of(module):
    return ".".join([PB_ROOTS[module[0]]] + module[1:])


def resolve_type(module, rust_type):
    """The (module, struct) a prost message field refers to."""
    t = re.sub(r"\s+", "", rust_type)
    for wrapper in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        while t.startswith(wrapper):
            t = t[len(wrapper):-1]
    parts = t.split("::")
    mod = list(module)
    while parts[0] == "super":
        mod.pop()
        parts.pop(0)
    return tuple(mod + parts[:-1]), parts[-1]


def map_value_type(rust_type):
    t = re.sub(r"\s+", "", rust_type)
    inner = t[t.index("<") + 1 : t.rindex(">")]
    return inner.split(",", 1)[1]


def read_pb(root):
    """(module, struct) -> [(tag, field name, attrs, rust type)], and apiVersion -> module."""
    structs = {}
    versions = {}
    for module, path in module_files(root):
        text = open(path, encoding="utf-8").read()
        for name, body in STRUCT_RE.findall(text):
            body = re.sub(r"^\s*///.*$", "", body[:-1], flags=re.M)
            fields = []
            for attrs, fname, rtype in FIELD_RE.findall(body):
                tag = int(re.search(r'tag = "(\d+)"', attrs).group(1))
                fields.append((tag, fname, attrs, rtype))
            structs[(tuple(module), name)] = fields
        for _, api_version in RESOURCE_RE.findall(text):
            versions.setdefault(api_version, package_of(module))
    return structs, versions


OMITEMPTY_LIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "protobuf-omitempty-fields.txt")
GO_REPOS = {
    "api": "io.k8s.api",
    "apimachinery": "io.k8s.apimachinery",
    "apiextensions-apiserver": "io.k8s.apiextensions-apiserver",
    "kube-aggregator": "io.k8s.kube-aggregator",
}
GO_STRUCT_RE = re.compile(r"^type (\w+) struct \{(.*?)^\}", re.S | re.M)
GO_FIELD_RE = re.compile(
    r'^\s*\w+\s+(\S+)\s+`[^`]*json:"([^",]*)((?:,[^"]*)?)"[^`]*protobuf:"\w+,(\d+),', re.M
)


def read_go_types(dirs):
    """[(package, Go struct, tag, JSON name)] of scalar value fields tagged `omitempty`."""
    out = []
    for d in dirs:
        repo = os.path.basename(os.path.normpath(d))
        if repo not in GO_REPOS:
            sys.exit(f"{d}: expected a checkout named one of {sorted(GO_REPOS)}")
        for path in sorted(glob.glob(os.path.join(d, "**", "*.go"), recursive=True)):
            rel = os.path.relpath(os.path.dirname(path), d).replace(os.sep, ".")
            pkg = f"{GO_REPOS[repo]}.{rel}"
            for name, body in GO_STRUCT_RE.findall(open(path, encoding="utf-8").read()):
                for ty, json, opts, tag in GO_FIELD_RE.findall(body):
                    value = not ty.startswith(("*", "map[")) and (ty == "[]byte" or not ty.startswith("["))
                    if value and "omitempty" in opts.split(","):
                        out.append((pkg, name, int(tag), json))
    return sorted(set(out))


def lower_camel(snake):
    head, *rest = snake.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k8s-pb")
    ap.add_argument("--k8s-openapi")
    ap.add_argument("--go-types", nargs="+", metavar="DIR")
    args = ap.parse_args()
    if args.go_types:
        with open(OMITEMPTY_LIST, "w", encoding="utf-8") as f:
            f.write("# @generated by scripts/gen-protobuf-schema.py --go-types: Go scalar value fields\n")
            f.write("# tagged omitempty (package, struct, protobuf tag, JSON name).\n")
            for row in read_go_types(args.go_types):
                f.write(" ".join(map(str, row)) + "\n")
    omitempty = set()
    for line in open(OMITEMPTY_LIST, encoding="utf-8"):
        if line.strip() and not line.startswith("#"):
            pkg, struct, tag, _ = line.split()
            omitempty.add((pkg, norm(struct), int(tag)))
    pb_root = find_crate("k8s-pb", K8S_PB_VERSION, args.k8s_pb)
    openapi_root = find_crate("k8s-openapi", K8S_OPENAPI_VERSION, args.k8s_openapi)

    defs = read_openapi(openapi_root)
    by_package = {}
    for d in defs:
        pkg, short = d.rsplit(".", 1)
        by_package.setdefault(pkg, {})[norm(short)] = d
    structs, versions = read_pb(pb_root)

    def definition(key):
        module, name = key
        pkg = package_of(list(module))
        return by_package.get(pkg, {}).get(norm(name), f"{pkg}.{name}")

    def kind_of(module, attrs, rtype):
        m = re.match(r'\s*btree_map = "(\w+), (\w+)"', attrs)
        if m:
            key, value = m.groups()
            value_kind = (
                f'Kind::Message("{definition(resolve_type(module, map_value_type(rtype)))}")'
                if value == "message"
                else f"Kind::{SCALARS[value]}"
            )
            return f"Kind::Map(&Kind::{SCALARS[key]}, &{value_kind})"
        ty = attrs.split(",")[0].split("=")[0].strip()
        if ty == "message":
            return f'Kind::Message("{definition(resolve_type(module, rtype))}")'
        return f"Kind::{SCALARS[ty]}"

    out = []
    unmatched = []
    messages = []
    for key, fields in structs.items():
        module, name = key
        d = definition(key)
        special = SPECIAL.get(d) or SPECIAL_BY_SHORT_NAME.get(name, "None")
        json_names = defs.get(d)
        rows = []
        for tag, fname, attrs, rtype in sorted(fields):
            json = None
            if json_names is not None:
                json = json_names.get(norm(fname))
            kind = kind_of(module, attrs, rtype)
            if json is None and json_names and special == "None":
                # A Go struct embedded with `json:",inline"`: a message on the wire whose
                # fields sit in the parent's JSON object.
                target = re.fullmatch(r'Kind::Message\("([^"]+)"\)', kind)
                if target and set(defs.get(target.group(1), {})) <= set(json_names):
                    json, kind = "", f'Kind::Inline("{target.group(1)}")'
                else:
                    unmatched.append(f"{d}.{fname}")
            if json is None:
                json = lower_camel(fname)
            repeated = "repeated" in [a.strip() for a in attrs.split(",")]
            scalar = kind.startswith("Kind::") and "(" not in kind
            if scalar and not repeated and (package_of(list(module)), norm(name), tag) in omitempty:
                rows.append(f'        e({tag}, "{json}", {kind}),')
            else:
                rows.append(f'        f({tag}, "{json}", {kind}, {str(repeated).lower()}),')
        messages.append((d, special, rows))
    messages.sort()
    names = [m[0] for m in messages]
    if len(set(names)) != len(names):
        sys.exit("two messages map to one definition name")
    for d, special, rows in messages:
        for row in rows:
            for ref in re.findall(r'Kind::(?:Message|Inline)\("([^"]+)"\)', row):
                if ref not in names:
                    sys.exit(f"{d} refers to unknown message {ref}")

    out.append(f"// @generated by scripts/gen-protobuf-schema.py from k8s-pb {K8S_PB_VERSION} and k8s-openapi "
               f"{K8S_OPENAPI_VERSION}; do not edit.")
    out.append("// Regenerate: python3 scripts/gen-protobuf-schema.py > apimachinery/src/protobuf/schema.rs")
    out.append("")
    out.append("//! The Kubernetes protobuf messages (tags, JSON names, kinds), sorted by definition name.")
    out.append("")
    out.append("use super::{Field, Kind, Message, Special};")
    out.append("")
    out.append("/// A field whose every value, zero included, is in the JSON.")
    out.append("const fn f(tag: u32, json: &'static str, kind: Kind, repeated: bool) -> Field {")
    out.append("    Field { tag, json, kind, repeated, omit_empty: false }")
    out.append("}")
    out.append("")
    out.append("/// A Go value field tagged `omitempty`: its zero value is left out of the JSON.")
    out.append("const fn e(tag: u32, json: &'static str, kind: Kind) -> Field {")
    out.append("    Field { tag, json, kind, repeated: false, omit_empty: true }")
    out.append("}")
    out.append("")
    out.append("/// `apiVersion` -> the protobuf package (OpenAPI definition prefix) of its types.")
    out.append("pub(super) static API_VERSIONS: &[(&str, &str)] = &[")
    versions.setdefault("meta.k8s.io/v1", "io.k8s.apimachinery.pkg.apis.meta.v1")
    for v in sorted(versions):
        out.append(f'    ("{v}", "{versions[v]}"),')
    out.append("];")
    out.append("")
    out.append("/// Every message, sorted by name for binary search.")
    out.append("pub(super) static MESSAGES: &[Message] = &[")
    for d, special, rows in messages:
        out.append("    Message {")
        out.append(f'        name: "{d}",')
        out.append(f"        special: Special::{special},")
        if rows:
            out.append("        fields: &[")
            out.extend("    " + r for r in rows)
            out.append("        ],")
        else:
            out.append("        fields: &[],")
        out.append("    },")
    out.append("];")
    print("\n".join(out))
    for u in unmatched:
        print(f"note: no JSON name for {u}; using camelCase", file=sys.stderr)
    print(f"{len(messages)} messages, {len(versions)} API versions", file=sys.stderr)


if __name__ == "__main__":
    main()
