"""The built-in `configmap` pipeline step: repo files rendered into a Kubernetes ConfigMap.

Pure rendering plus the file reading it needs; piping the manifest to `kubectl apply` is a
process step the pipeline runs. Every rule Kubernetes would enforce on apply is checked here
first, so a bad name or an oversized map fails in the step with a clear message, not later.

Keys: a file's key is its path below the pattern's fixed folder (`config/*.yaml` gives
`app.yaml` for `config/app.yaml`); deeper folders join with `__` (`static/**` gives
`css__site.css` for `static/css/site.css`), since `/` is not allowed in a key. Valid UTF-8
files go to `data`, anything else to `binaryData` (base64).
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitwatch_tui.core.models import ConfigMapSpec

KEY_SEPARATOR = "__"  # stands for `/` in a key
MAX_KEY_LENGTH = 253
MAX_NAME_LENGTH = 253  # a ConfigMap name is a DNS-1123 subdomain
MAX_LABEL_LENGTH = 63
MANIFEST_SUFFIX = ".yaml"

_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_GLOB_CHARS = frozenset("*?[")


class ConfigMapError(ValueError):
    """The ConfigMap cannot be rendered; the message says which file or setting and why."""


@dataclass(frozen=True, slots=True)
class RenderedConfigMap:
    """A rendered manifest: its parsed form, its YAML text and the repo files it holds."""

    name: str
    manifest: dict[str, Any]
    text: str
    files: tuple[str, ...]

    @property
    def size(self) -> int:
        """Bytes of the YAML manifest, the figure checked against `max_bytes`."""
        return len(self.text.encode("utf-8"))


def spec_problems(spec: ConfigMapSpec) -> list[str]:
    """What is wrong with the step's settings (names, labels, patterns); empty when fine."""
    problems: list[str] = []
    if len(spec.name) > MAX_NAME_LENGTH or not _DNS_SUBDOMAIN.fullmatch(spec.name):
        problems.append(
            f"name '{spec.name}' is not a valid ConfigMap name (lower-case letters, digits, "
            f"'-' and '.', starting and ending with a letter or digit, at most {MAX_NAME_LENGTH})"
        )
    if spec.namespace is not None and (
        len(spec.namespace) > MAX_LABEL_LENGTH or not _DNS_LABEL.fullmatch(spec.namespace)
    ):
        problems.append(
            f"namespace '{spec.namespace}' is not a valid namespace (lower-case letters, digits "
            f"and '-', starting and ending with a letter or digit, at most {MAX_LABEL_LENGTH})"
        )
    for key, value in spec.labels:
        problem = label_problem(key, value)
        if problem:
            problems.append(problem)
    if not spec.files:
        problems.append("files: at least one pattern is needed")
    for pattern in spec.files:
        problem = pattern_problem(pattern)
        if problem:
            problems.append(problem)
    return problems


def label_problem(key: str, value: str) -> str | None:
    """Why `key: value` is not a valid Kubernetes label, or None."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > MAX_NAME_LENGTH or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return f"label '{key}': the prefix '{prefix}' is not a DNS subdomain"
    if len(name) > MAX_LABEL_LENGTH or not _LABEL_NAME.fullmatch(name):
        return (
            f"label '{key}': the name must be letters, digits, '-', '_' or '.', starting and "
            f"ending with a letter or digit, at most {MAX_LABEL_LENGTH} characters"
        )
    if value and (len(value) > MAX_LABEL_LENGTH or not _LABEL_NAME.fullmatch(value)):
        return (
            f"label '{key}': the value '{value}' must be empty or letters, digits, '-', '_' "
            f"or '.', starting and ending with a letter or digit, at most {MAX_LABEL_LENGTH}"
        )
    return None


def pattern_problem(pattern: str) -> str | None:
    """Why a `files` pattern is refused (absolute, or reaching out of the repo), or None."""
    if not pattern or pattern.startswith("/") or os.path.isabs(pattern):
        return f"files: '{pattern}' must be a pattern relative to the repo"
    if ".." in pattern.split("/"):
        return f"files: '{pattern}' must not contain '..'"
    return None


def config_map_key(relative: str) -> str:
    """The ConfigMap key for a path below a pattern's fixed folder; ConfigMapError if none."""
    key = relative.replace("/", KEY_SEPARATOR)
    if key in (".", "..") or len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise ConfigMapError(
            f"'{relative}' gives the key '{key}', which is not a valid ConfigMap key "
            f"(letters, digits, '-', '_' and '.', at most {MAX_KEY_LENGTH} characters); "
            "rename the file or narrow the pattern"
        )
    return key


def output_dir(spec: ConfigMapSpec, root: Path) -> Path:
    """Where the manifest is written: `output` relative to the repo, or absolute."""
    return root / spec.output


def collect_files(spec: ConfigMapSpec, root: Path) -> list[tuple[str, Path]]:
    """(key, file) for every regular file the patterns match, in key order.

    Skips `.git` and the step's own output folder; refuses files whose link leads out of
    the repo, and two files that would get the same key.
    """
    real_root = root.resolve()
    skip = [real_root / ".git", output_dir(spec, root).resolve()]
    found: dict[str, Path] = {}
    for pattern in spec.files:
        problem = pattern_problem(pattern)
        if problem:
            raise ConfigMapError(problem)
        base = _fixed_folder(pattern)
        # pathlib's `**` matches folders only; `static/**` means every file below static/.
        glob = pattern + "/*" if pattern.endswith("**") else pattern
        for path in sorted(root.glob(glob)):
            if not path.is_file():
                continue
            real = path.resolve()
            if not real.is_relative_to(real_root):
                rel = path.relative_to(root).as_posix()
                raise ConfigMapError(f"'{rel}' links to a file outside the repo")
            if any(real.is_relative_to(folder) for folder in skip):
                continue
            rel = path.relative_to(root).as_posix()
            key = config_map_key(rel[len(base) + 1 :] if base else rel)
            other = found.get(key)
            if other is not None and other != path:
                first = other.relative_to(root).as_posix()
                raise ConfigMapError(f"'{first}' and '{rel}' would both have the key '{key}'")
            found[key] = path
    if not found:
        raise ConfigMapError("no files match " + ", ".join(spec.files))
    return sorted(found.items())


def render_configmap(spec: ConfigMapSpec, root: Path) -> RenderedConfigMap:
    """Render the ConfigMap for the repo at `root`; ConfigMapError on any rule broken."""
    problems = spec_problems(spec)
    if problems:
        raise ConfigMapError("; ".join(problems))
    files = collect_files(spec, root)
    total = 0
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    for key, path in files:
        # Sizes first: a stray 2 GB file is refused without being read.
        total += path.stat().st_size
        if total > spec.max_bytes:
            raise _too_big(spec, f"the files alone are over {total} bytes")
        content = path.read_bytes()
        try:
            data[key] = content.decode("utf-8")
        except UnicodeDecodeError:
            binary[key] = base64.b64encode(content).decode("ascii")
    metadata: dict[str, Any] = {"name": spec.name}
    if spec.namespace:
        metadata["namespace"] = spec.namespace
    if spec.labels:
        metadata["labels"] = dict(spec.labels)
    manifest: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
    if data:
        manifest["data"] = data
    if binary:
        manifest["binaryData"] = binary
    rendered = RenderedConfigMap(
        spec.name,
        manifest,
        dump_yaml(manifest),
        tuple(p.relative_to(root).as_posix() for _, p in files),
    )
    if rendered.size > spec.max_bytes:
        raise _too_big(spec, f"the manifest is {rendered.size} bytes")
    return rendered


def write_configmap(rendered: RenderedConfigMap, folder: Path) -> Path:
    """Write the manifest as `<folder>/<name>.yaml` (atomically: a reader never sees half)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (rendered.name + MANIFEST_SUFFIX)
    partial = folder / f".{rendered.name}{MANIFEST_SUFFIX}.tmp"
    partial.write_text(rendered.text, encoding="utf-8")
    os.replace(partial, target)
    return target


def dump_yaml(manifest: dict[str, Any]) -> str:
    """YAML for a manifest via PyYAML's safe dumper; multi-line text as `|` blocks."""
    import yaml  # here: PyYAML costs start-up time that only a pipeline run needs

    class _Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, text)
    return yaml.dump(
        manifest, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )


def _fixed_folder(pattern: str) -> str:
    """The leading folders of a pattern that hold no wildcard; a plain file's own folder."""
    parts = pattern.split("/")
    fixed: list[str] = []
    for part in parts[:-1]:
        if _GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return "/".join(part for part in fixed if part not in ("", "."))


def _too_big(spec: ConfigMapSpec, what: str) -> ConfigMapError:
    return ConfigMapError(
        f"ConfigMap '{spec.name}' is over its limit of {spec.max_bytes} bytes ({what}); "
        "narrow the file patterns or split it into several ConfigMaps"
    )
