#!/usr/bin/env python3
"""Validate the deployment manifests under deploy/ (deploy/README.md).

  python tests/deploy/validate.py              check every deploy/**/*.yaml
  python tests/deploy/validate.py --self-test  also prove that broken copies fail

Checks:
  (a) every SpinApp against the openAPIV3Schema of its version in
      deploy/spinkube/crd/core.spinkube.dev_spinapps.yaml, with jsonschema. Kubernetes
      prunes unknown fields of structural schemas silently, so to catch typos every object
      schema with `properties` and neither `additionalProperties` nor
      `x-kubernetes-preserve-unknown-fields` is closed; `nullable`,
      `x-kubernetes-int-or-string` and `format: int32/int64` are translated.
  (b) every other object (CronJob, Secret, ...) against the Kubernetes object model of the
      `kubernetes` Python client: unknown keys (each model's attribute_map, recursively),
      value types (openapi_types), required fields (setters refusing None), a few enums,
      then the client's own deserialization.
  (c) the SpinApp's components equal spin.toml's HTTP components; every variable it sets is
      declared in spin.toml [variables] and every required one without default is set;
      Secrets it references exist with the key; a Redis runtime config comes with
      store_batch_reads "false"; every CronJob calls POST /admin/v1/engine/tick on a
      SpinApp's Service with the token from a Secret.
  (d) every failure names the file, the document and the field; exit 1 on any failure;
      on success the last line is `N passed, 0 failed`.
"""

from __future__ import annotations

import argparse
import base64
import copy
import inspect
import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
import yaml
from kubernetes import client as k8s

ROOT = Path(__file__).resolve().parents[2]
CRD_REL = "deploy/spinkube/crd/core.spinkube.dev_spinapps.yaml"
TICK_PATH = "/admin/v1/engine/tick"
RUNTIME_CONFIG_KEY = "runtime-config.toml"  # spin-operator mounts this key of loadFromSecret


@dataclass
class Doc:
    file: str  # path relative to the repository root
    index: int  # position of the document in its file, from 1
    obj: dict

    @property
    def where(self) -> str:
        kind = self.obj.get("kind", "?") if isinstance(self.obj, dict) else "?"
        meta = self.obj.get("metadata") if isinstance(self.obj, dict) else None
        name = meta.get("name", "?") if isinstance(meta, dict) else "?"
        return f"{self.file} (document {self.index}, {kind}/{name})"


@dataclass
class Report:
    passed: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self, ok_messages: list[str], doc: Doc | None, what: str) -> None:
        """One check: passed if `ok_messages` is empty, else one failure per message."""
        if ok_messages:
            where = doc.where if doc else what
            self.failures.extend(f"{where}: {m}" for m in ok_messages)
        else:
            self.passed += 1


# ------------------------------------------------------------------ loading


def load_docs(root: Path) -> tuple[list[Doc], list[str]]:
    """Every YAML document under deploy/, and the files that do not parse."""
    docs, errors = [], []
    for path in sorted((root / "deploy").rglob("*.yaml")):
        rel = path.relative_to(root).as_posix()
        try:
            with path.open(encoding="utf-8") as f:
                objs = list(yaml.safe_load_all(f))
        except yaml.YAMLError as e:
            errors.append(f"{rel}: not YAML: {e}")
            continue
        for i, obj in enumerate(objs, start=1):
            if obj is None:
                continue
            # YAML timestamps and the like would not survive; manifests are JSON data.
            docs.append(Doc(rel, i, json.loads(json.dumps(obj, default=str))))
    return docs, errors


def load_spin(path: Path) -> dict:
    with path.open("rb") as f:
        return tomllib.load(f)


# ------------------------------------------------------------------ (a) the CRD schema

INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def to_json_schema(s: dict) -> dict:
    """An OpenAPI v3 (Kubernetes structural) schema as a closed JSON Schema."""
    if not isinstance(s, dict):
        return s
    out = {}
    for k, v in s.items():
        if k == "properties":
            out[k] = {name: to_json_schema(sub) for name, sub in v.items()}
        elif k in ("items", "additionalProperties", "not") and isinstance(v, dict):
            out[k] = to_json_schema(v)
        elif k in ("allOf", "anyOf", "oneOf"):
            out[k] = [to_json_schema(sub) for sub in v]
        elif k.startswith("x-kubernetes-") or k in ("nullable", "description", "default"):
            continue
        else:
            out[k] = v
    if s.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if s.get("format") in INT_RANGES and s.get("type") == "integer":
        out["minimum"], out["maximum"] = INT_RANGES[s["format"]]
    if s.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if (
        "properties" in s
        and "additionalProperties" not in s
        and not s.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if s.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def crd_validators(crd: dict) -> dict[str, jsonschema.protocols.Validator]:
    group = crd["spec"]["group"]
    validators = {}
    for version in crd["spec"]["versions"]:
        schema = to_json_schema(version["schema"]["openAPIV3Schema"])
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
        validators[f"{group}/{version['name']}"] = cls(schema)
    return validators


def dotted(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(document)"


def schema_errors(validator, obj: dict) -> list[str]:
    msgs = []
    for e in sorted(validator.iter_errors(obj), key=lambda e: (list(map(str, e.path)), e.message)):
        at = dotted(e.path)
        if e.validator == "additionalProperties" and e.validator_value is False:
            extra = sorted(set(e.instance) - set(e.schema.get("properties", {})))
            for name in extra:
                msgs.append(f"{dotted([*e.path, name])}: unknown field (not in the CRD schema)")
            continue
        msgs.append(f"{at}: {e.message}")
    return msgs


# ------------------------------------------------------------------ (b) the k8s object model

PRIMITIVES = {"str", "int", "float", "bool", "object", "datetime", "date"}
# Enums the Python client does not check, for the fields our manifests use.
ENUMS = {
    ("V1CronJobSpec", "concurrencyPolicy"): {"Allow", "Forbid", "Replace"},
    ("V1PodSpec", "restartPolicy"): {"Always", "OnFailure", "Never"},
    ("V1Container", "imagePullPolicy"): {"Always", "IfNotPresent", "Never"},
    ("V1SeccompProfile", "type"): {"Localhost", "RuntimeDefault", "Unconfined"},
}
QUANTITY_MAPS = {("V1ResourceRequirements", "limits"), ("V1ResourceRequirements", "requests")}
_required_cache: dict[str, set[str]] = {}


def model_class(api_version: str, kind: str):
    version = api_version.rsplit("/", 1)[-1]
    return getattr(k8s, f"{version[:1].upper()}{version[1:]}{kind}", None)


def required_fields(cls) -> set[str]:
    """JSON names of the fields whose setter refuses None (the client's `required`)."""
    if cls.__name__ not in _required_cache:
        req = set()
        for attr, json_name in cls.attribute_map.items():
            prop = getattr(cls, attr, None)
            setter = getattr(prop, "fset", None)
            if setter and "must not be `None`" in inspect.getsource(setter):
                req.add(json_name)
        _required_cache[cls.__name__] = req
    return _required_cache[cls.__name__]


def model_errors(value, type_name: str, path: list, owner: tuple | None = None) -> list[str]:
    at = dotted(path)
    if m := re.fullmatch(r"list\[(.+)\]", type_name):
        if not isinstance(value, list):
            return [f"{at}: expected a list, got {type(value).__name__}"]
        return [e for i, v in enumerate(value) for e in model_errors(v, m[1], [*path, i])]
    if m := re.fullmatch(r"dict\(str, (.+)\)", type_name):
        if not isinstance(value, dict):
            return [f"{at}: expected a map, got {type(value).__name__}"]
        inner = m[1]
        if owner in QUANTITY_MAPS:  # resource quantities: "64Mi" or a plain number
            return [
                f"{dotted([*path, k])}: expected a quantity, got {type(v).__name__}"
                for k, v in value.items()
                if isinstance(v, bool) or not isinstance(v, (str, int, float))
            ]
        return [e for k, v in value.items() for e in model_errors(v, inner, [*path, k])]
    if type_name in PRIMITIVES:
        ok = {
            "str": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "object": True,
            "datetime": isinstance(value, str),
            "date": isinstance(value, str),
        }[type_name]
        if not ok:
            return [f"{at}: expected {type_name}, got {type(value).__name__} {value!r}"]
        if owner in ENUMS and value not in ENUMS[owner]:
            return [f"{at}: {value!r} is not one of {sorted(ENUMS[owner])}"]
        return []
    cls = getattr(k8s, type_name, None)
    if cls is None:
        return [f"{at}: no model {type_name} in the kubernetes client"]
    if not isinstance(value, dict):
        return [f"{at}: expected an object ({type_name}), got {type(value).__name__}"]
    by_json = {j: a for a, j in cls.attribute_map.items()}
    errs = []
    for key, v in value.items():
        if key not in by_json:
            errs.append(f"{dotted([*path, key])}: unknown field (not in {type_name})")
            continue
        if v is None:
            continue
        errs += model_errors(v, cls.openapi_types[by_json[key]], [*path, key], (type_name, key))
    for key in sorted(required_fields(cls)):
        if value.get(key) is None:
            errs.append(f"{dotted([*path, key])}: required field missing ({type_name})")
    return errs


class _Response:
    def __init__(self, obj):
        self.data = json.dumps(obj)


def k8s_errors(obj: dict) -> list[str]:
    cls = model_class(obj.get("apiVersion", ""), obj.get("kind", ""))
    if cls is None:
        return [f"apiVersion/kind: no Kubernetes model for {obj.get('apiVersion')} {obj.get('kind')}"]
    errs = model_errors(obj, cls.__name__, [])
    if obj.get("kind") == "Secret":
        for k, v in (obj.get("data") or {}).items():
            try:
                base64.b64decode(str(v), validate=True)
            except ValueError:
                errs.append(f"data.{k}: not base64")
    if obj.get("kind") == "CronJob":
        sched = (obj.get("spec") or {}).get("schedule")
        if isinstance(sched, str) and not (sched.startswith("@") or len(sched.split()) == 5):
            errs.append(f"spec.schedule: {sched!r} is not a five-field cron expression")
    if not errs:  # the client's own deserialization must accept it too
        try:
            k8s.ApiClient().deserialize(_Response(obj), cls.__name__)
        except (ValueError, TypeError) as e:
            errs.append(f"(document): the kubernetes client refuses it: {e}")
    return errs


# ------------------------------------------------------------------ (c) the app's contract


def http_components(spin: dict) -> set[str]:
    out = set()
    for t in spin.get("trigger", {}).get("http", []):
        comp = t.get("component")
        out.add(comp if isinstance(comp, str) else json.dumps(comp))
    return out


def secret_data(docs: list[Doc]) -> dict[str, dict[str, str]]:
    """Secret name -> key -> value (stringData as is, data decoded)."""
    out: dict[str, dict[str, str]] = {}
    for d in docs:
        if d.obj.get("kind") != "Secret" or d.obj.get("apiVersion") != "v1":
            continue
        name = (d.obj.get("metadata") or {}).get("name")
        entry = out.setdefault(name, {})
        for k, v in (d.obj.get("data") or {}).items():
            try:
                entry[k] = base64.b64decode(str(v)).decode()
            except ValueError:
                entry[k] = ""
        for k, v in (d.obj.get("stringData") or {}).items():
            entry[k] = str(v)
    return out


def secret_ref_errors(ref, at: str, secrets: dict) -> list[str]:
    if not isinstance(ref, dict):
        return []
    name, key = ref.get("name"), ref.get("key")
    if name not in secrets:
        return [f"{at}: Secret {name!r} is not defined under deploy/"]
    if key not in secrets[name]:
        return [f"{at}: Secret {name!r} has no key {key!r}"]
    return []


def runtime_config_errors(secret_name: str, secrets: dict, at: str) -> tuple[list[str], dict]:
    if secret_name not in secrets:
        return [f"{at}: Secret {secret_name!r} is not defined under deploy/"], {}
    text = secrets[secret_name].get(RUNTIME_CONFIG_KEY)
    if text is None:
        return [f"{at}: Secret {secret_name!r} has no key {RUNTIME_CONFIG_KEY!r}"], {}
    try:
        cfg = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        return [f"{at}: Secret {secret_name!r} key {RUNTIME_CONFIG_KEY}: not TOML: {e}"], {}
    store = cfg.get("key_value_store", {}).get("default")
    if not isinstance(store, dict) or "type" not in store:
        return [f"{at}: {secret_name}/{RUNTIME_CONFIG_KEY} has no [key_value_store.default] type"], {}
    need = {"redis": {"url"}, "aws_dynamo": {"region", "table"}}.get(store["type"], set())
    errs = [
        f"{at}: {secret_name}/{RUNTIME_CONFIG_KEY}: key_value_store.default.{k} missing"
        for k in sorted(need - set(store))
    ]
    if store["type"] == "aws_dynamo" and not isinstance(store.get("consistent_read", False), bool):
        errs.append(f"{at}: {secret_name}/{RUNTIME_CONFIG_KEY}: consistent_read must be a boolean")
    return errs, store


def spinapp_contract_errors(obj: dict, spin: dict, secrets: dict) -> list[str]:
    spec = obj.get("spec") or {}
    errs = []
    want = http_components(spin)
    comps = spec.get("components")
    if not isinstance(comps, list):
        errs.append(f"spec.components: must list spin.toml's HTTP components {sorted(want)}")
    else:
        if len(set(comps)) != len(comps):
            errs.append("spec.components: duplicates")
        if missing := want - set(comps):
            errs.append(f"spec.components: missing HTTP component(s) {sorted(missing)}")
        if extra := set(comps) - want:
            errs.append(f"spec.components: {sorted(extra)} not HTTP components of spin.toml "
                        "(no cron trigger on SpinKube)")
    declared = spin.get("variables", {})
    values = {}
    for i, v in enumerate(spec.get("variables") or []):
        at = f"spec.variables[{i}]"
        if not isinstance(v, dict):
            continue
        name = v.get("name")
        if name not in declared:
            errs.append(f"{at}.name: {name!r} is not declared in spin.toml [variables]")
        if name in values:
            errs.append(f"{at}.name: {name!r} set twice")
        has_value, has_from = "value" in v, "valueFrom" in v
        if has_value == has_from:
            errs.append(f"{at}: exactly one of value / valueFrom")
        ref = (v.get("valueFrom") or {}).get("secretKeyRef")
        errs += secret_ref_errors(ref, f"{at}.valueFrom.secretKeyRef", secrets)
        if isinstance(declared.get(name), dict) and declared[name].get("secret") and has_value:
            errs.append(f"{at}: {name!r} is a secret variable: take it from a Secret (valueFrom)")
        values[name] = v.get("value") if has_value else None
    for name, decl in declared.items():
        if isinstance(decl, dict) and decl.get("required") and name not in values:
            errs.append(f"spec.variables: required variable {name!r} is not set")
    rc_secret = (spec.get("runtimeConfig") or {}).get("loadFromSecret")
    if rc_secret:
        rc_errs, store = runtime_config_errors(rc_secret, secrets, "spec.runtimeConfig.loadFromSecret")
        errs += rc_errs
        if store.get("type") == "redis" and values.get("store_batch_reads") != "false":
            errs.append('spec.variables: a Redis store needs store_batch_reads = "false" '
                        "(Spin's Redis get-many is broken)")
    return errs


URL_RE = re.compile(r"https?://[^\s\"'|;]+")


def cronjob_contract_errors(obj: dict, spinapps: set[str], secrets: dict) -> list[str]:
    errs = []
    pod = (((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    containers = (pod.get("spec") or {}).get("containers") or []
    urls = []
    for ci, c in enumerate(containers):
        base = f"spec.jobTemplate.spec.template.spec.containers[{ci}]"
        words = [str(w) for w in (c.get("command") or []) + (c.get("args") or [])]
        text = " ".join(words)
        for u in URL_RE.findall(text):
            urls.append((base, u))
        if "TICK_TOKEN" in text:
            env = {e.get("name"): e for e in c.get("env") or [] if isinstance(e, dict)}
            tok = env.get("TICK_TOKEN")
            ref = ((tok or {}).get("valueFrom") or {}).get("secretKeyRef")
            if not ref:
                errs.append(f"{base}.env: TICK_TOKEN must come from a Secret (valueFrom.secretKeyRef)")
            else:
                errs += secret_ref_errors(ref, f"{base}.env[TICK_TOKEN].valueFrom.secretKeyRef", secrets)
            if "Bearer" not in text:
                errs.append(f"{base}.command: no `Authorization: Bearer` header")
        if urls and "POST" not in text:
            errs.append(f"{base}.command: the tick route needs POST (-X POST)")
    if not urls:
        errs.append("spec.jobTemplate...containers: no http:// URL in command/args")
    for base, u in urls:
        p = urlsplit(u)
        if p.path != TICK_PATH:
            errs.append(f"{base}.command: URL path {p.path!r} is not {TICK_PATH!r}")
        if p.hostname not in spinapps:
            errs.append(f"{base}.command: host {p.hostname!r} is no SpinApp's Service {sorted(spinapps)}")
        if p.port not in (None, 80) or p.scheme != "http":
            errs.append(f"{base}.command: a SpinApp's Service is plain http on port 80, not {u!r}")
        secs = parse_qs(p.query).get("seconds", [""])[0]
        if secs and not (secs.isdigit() and 0 < int(secs) <= 60):
            errs.append(f"{base}.command: seconds={secs!r}: the tick route takes 1 to 60")
    return errs


# ------------------------------------------------------------------ the run


def validate(docs: list[Doc], spin: dict, crd: dict) -> Report:
    rep = Report()
    validators = crd_validators(crd)
    crd_name = crd["metadata"]["name"]
    secrets = secret_data(docs)
    spinapps = {
        (d.obj.get("metadata") or {}).get("name")
        for d in docs
        if d.obj.get("kind") == "SpinApp"
    }
    for d in docs:
        obj = d.obj
        if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
            rep.check(["not a Kubernetes object (apiVersion and kind)"], d, "")
            continue
        kind, api = obj["kind"], obj["apiVersion"]
        if kind == "CustomResourceDefinition":
            # The CRD is data (the schema source); the only one expected is spin-operator's.
            ok = (obj.get("metadata") or {}).get("name") == crd_name
            rep.check([] if ok else ["unexpected CustomResourceDefinition"], d, "")
        elif kind == "SpinApp":
            v = validators.get(api)
            if v is None:
                rep.check([f"apiVersion: {api!r} is no version of the CRD {sorted(validators)}"], d, "")
                continue
            rep.check(schema_errors(v, obj), d, "")
            rep.check(model_errors(obj.get("metadata") or {}, "V1ObjectMeta", ["metadata"]), d, "")
            rep.check(spinapp_contract_errors(obj, spin, secrets), d, "")
        else:
            rep.check(k8s_errors(obj), d, "")
            if kind == "CronJob":
                rep.check(cronjob_contract_errors(obj, spinapps, secrets), d, "")
    if not spinapps:
        rep.check(["no SpinApp found under deploy/"], None, "deploy/")
    return rep


# ------------------------------------------------------------------ --self-test


def _find(docs, kind, file_part=""):
    for i, d in enumerate(docs):
        if d.obj.get("kind") == kind and file_part in d.file:
            return i
    raise SystemExit(f"self-test: no {kind} document under deploy/ ({file_part})")


def _rename(obj, path, old, new):
    node = obj
    for p in path:
        node = node[p]
    node[new] = node.pop(old)


def _set(obj, path, value):
    node = obj
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def _del(obj, path):
    node = obj
    for p in path[:-1]:
        node = node[p]
    del node[path[-1]]


CJ_POD = ["spec", "jobTemplate", "spec", "template", "spec"]
CJ_CONTAINER = [*CJ_POD, "containers", 0]

# (name, kind, file part, mutation, a substring the new failure must contain)
MUTATIONS = [
    ("SpinApp replicas -> replica", "SpinApp", "spinapp.yaml",
     lambda o: _rename(o, ["spec"], "replicas", "replica"), "spec.replica: unknown field"),
    ("SpinApp components -> componets", "SpinApp", "spinapp.yaml",
     lambda o: _rename(o, ["spec"], "components", "componets"), "spec.componets: unknown field"),
    ("SpinApp runtimeConfig.loadFromSecret -> loadFromSecrets", "SpinApp", "spinapp.yaml",
     lambda o: _rename(o, ["spec", "runtimeConfig"], "loadFromSecret", "loadFromSecrets"),
     "spec.runtimeConfig.loadFromSecrets: unknown field"),
    ("SpinApp secretKeyRef.name -> nam", "SpinApp", "spinapp.yaml",
     lambda o: _rename(o, ["spec", "variables", 0, "valueFrom", "secretKeyRef"], "name", "nam"),
     "spec.variables[0].valueFrom.secretKeyRef.nam: unknown field"),
    ("SpinApp checks.readiness.httpGet.path -> pth", "SpinApp", "spinapp.yaml",
     lambda o: _rename(o, ["spec", "checks", "readiness", "httpGet"], "path", "pth"),
     "spec.checks.readiness.httpGet.pth: unknown field"),
    ("SpinApp metadata.labels -> labls", "SpinApp", "spinapp.yaml",
     lambda o: _rename(o, ["metadata"], "labels", "labls"), "metadata.labls: unknown field"),
    ("SpinApp replicas as a string", "SpinApp", "spinapp.yaml",
     lambda o: _set(o, ["spec", "replicas"], "2"), "spec.replicas: '2' is not of type 'integer'"),
    ("SpinApp without image", "SpinApp", "spinapp.yaml",
     lambda o: _del(o, ["spec", "image"]), "'image' is a required property"),
    ("SpinApp components with advancer", "SpinApp", "spinapp.yaml",
     lambda o: o["spec"]["components"].append("advancer"), "['advancer'] not HTTP components"),
    ("SpinApp components without console", "SpinApp", "spinapp.yaml",
     lambda o: o["spec"]["components"].remove("console"), "missing HTTP component(s) ['console']"),
    ("SpinApp variable not declared", "SpinApp", "spinapp.yaml",
     lambda o: _set(o, ["spec", "variables", 0, "name"], "admin_tokn"),
     "'admin_tokn' is not declared in spin.toml"),
    ("SpinApp on Redis with batch reads on", "SpinApp", "spinapp.yaml",
     lambda o: [v.update(value="true") for v in o["spec"]["variables"] if v["name"] == "store_batch_reads"],
     'store_batch_reads = "false"'),
    ("SpinApp secretKeyRef to a missing key", "SpinApp", "spinapp.yaml",
     lambda o: _set(o, ["spec", "variables", 0, "valueFrom", "secretKeyRef", "key"], "nope"),
     "has no key 'nope'"),
    ("CronJob schedule as an integer", "CronJob", "",
     lambda o: _set(o, ["spec", "schedule"], 60), "spec.schedule: expected str, got int"),
    ("CronJob schedule -> schedul", "CronJob", "",
     lambda o: _rename(o, ["spec"], "schedule", "schedul"), "spec.schedul: unknown field"),
    ("CronJob concurrencyPolicy typo'd value", "CronJob", "",
     lambda o: _set(o, ["spec", "concurrencyPolicy"], "Allowed"),
     "spec.concurrencyPolicy: 'Allowed' is not one of"),
    ("CronJob container command -> comand", "CronJob", "",
     lambda o: _rename(o, CJ_CONTAINER, "command", "comand"),
     "containers[0].comand: unknown field"),
    ("CronJob secretKeyRef.key -> kye", "CronJob", "",
     lambda o: _rename(o, [*CJ_CONTAINER, "env", 0, "valueFrom", "secretKeyRef"], "key", "kye"),
     "secretKeyRef.kye: unknown field"),
    ("CronJob container without name", "CronJob", "",
     lambda o: _del(o, [*CJ_CONTAINER, "name"]), "containers[0].name: required field missing"),
    ("CronJob without jobTemplate", "CronJob", "",
     lambda o: _del(o, ["spec", "jobTemplate"]), "spec.jobTemplate: required field missing"),
    ("CronJob wrong tick path", "CronJob", "",
     lambda o: _set(o, [*CJ_CONTAINER, "command"],
                    [s.replace(TICK_PATH, TICK_PATH + "s") for s in o_cmd(o)]),
     "is not '/admin/v1/engine/tick'"),
    ("Secret stringData -> stringdata", "Secret", "",
     lambda o: _rename(o, [], "stringData", "stringdata"), "stringdata: unknown field"),
]


def o_cmd(o):
    node = o
    for p in CJ_CONTAINER:
        node = node[p]
    return node["command"]


def self_test(docs: list[Doc], spin: dict, crd: dict) -> int:
    base = set(validate(docs, spin, crd).failures)
    bad = 0
    for name, kind, file_part, mutate, expect in MUTATIONS:
        mutated = copy.deepcopy(docs)
        mutate(mutated[_find(mutated, kind, file_part)].obj)
        new = [f for f in validate(mutated, spin, crd).failures if f not in base]
        hit = [f for f in new if expect in f]
        if hit:
            print(f"self-test ok   {name}: {hit[0]}")
        else:
            bad += 1
            print(f"self-test FAIL {name}: expected a failure containing {expect!r}, got {new}")
    print(f"self-test: {len(MUTATIONS) - bad} of {len(MUTATIONS)} broken copies rejected")
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=ROOT, help="repository root")
    ap.add_argument("--spin-toml", type=Path, help="the manifest (default: ROOT/spin.toml)")
    ap.add_argument("--self-test", action="store_true",
                    help="also check that typo'd copies of the manifests are rejected")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    spin = load_spin(args.spin_toml or root / "spin.toml")
    with (root / CRD_REL).open(encoding="utf-8") as f:
        crd = yaml.safe_load(f)
    docs, parse_errors = load_docs(root)

    self_failed = self_test(docs, spin, crd) if args.self_test else 0
    rep = validate(docs, spin, crd)
    rep.failures[:0] = parse_errors
    for f in rep.failures:
        print(f"FAIL {f}")
    failed = len(rep.failures) + self_failed
    print(f"{rep.passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
