"""The configmap step's rendering: a manifest Kubernetes would accept, or a clear refusal."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
import yaml

from gitwatch_tui.core.configmap import (
    ConfigMapError,
    config_map_key,
    render_configmap,
    spec_problems,
    write_configmap,
)
from gitwatch_tui.core.models import ConfigMapSpec

KEY = re.compile(r"[-._a-zA-Z0-9]+")
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "config").mkdir(parents=True)
    (root / "config" / "app.yaml").write_text("port: 8080\nname: demo\n")
    (root / "config" / "db.yaml").write_text("url: postgres://db\n")
    (root / "config" / "notes.txt").write_text("not matched\n")
    (root / "static" / "css").mkdir(parents=True)
    (root / "static" / "css" / "site.css").write_text("body { color: #333; }\n")
    (root / "static" / "logo.png").write_bytes(PNG)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    return root


def spec(**overrides: object) -> ConfigMapSpec:
    values: dict[str, object] = {
        "name": "app-config",
        "namespace": "prod",
        "labels": (("app.kubernetes.io/name", "demo"), ("tier", "web")),
        "files": ("config/*.yaml", "static/**"),
        "output": "deploy/out",
    }
    values.update(overrides)
    return ConfigMapSpec(**values)  # type: ignore[arg-type]


def test_manifest_is_a_valid_config_map(repo: Path) -> None:
    rendered = render_configmap(spec(), repo)
    target = write_configmap(rendered, repo / "deploy" / "out")
    assert target == repo / "deploy" / "out" / "app-config.yaml"
    manifest = yaml.safe_load(target.read_text())
    assert manifest["apiVersion"] == "v1" and manifest["kind"] == "ConfigMap"
    assert manifest["metadata"] == {
        "name": "app-config",
        "namespace": "prod",
        "labels": {"app.kubernetes.io/name": "demo", "tier": "web"},
    }
    assert manifest["data"] == {
        "app.yaml": "port: 8080\nname: demo\n",
        "db.yaml": "url: postgres://db\n",
        "css__site.css": "body { color: #333; }\n",
    }
    assert base64.b64decode(manifest["binaryData"]["logo.png"]) == PNG
    keys = [*manifest["data"], *manifest["binaryData"]]
    assert all(KEY.fullmatch(key) and len(key) <= 253 for key in keys)
    assert len(target.read_bytes()) < 1024 * 1024
    assert rendered.size == len(target.read_bytes())
    assert "notes.txt" not in target.read_text() and "[core]" not in target.read_text()
    assert "port: 8080\n" in target.read_text()  # multi-line text as a readable block


def test_the_output_folder_is_never_read_back(repo: Path) -> None:
    first = render_configmap(spec(files=("**",)), repo)
    write_configmap(first, repo / "deploy" / "out")
    second = render_configmap(spec(files=("**",)), repo)
    assert second.text == first.text
    assert "config__app.yaml" in second.manifest["data"]


def test_over_the_size_limit_is_refused(repo: Path) -> None:
    (repo / "config" / "big.yaml").write_text("x" * 2_000_000)
    with pytest.raises(ConfigMapError, match="over its limit of 1048576 bytes"):
        render_configmap(spec(), repo)
    # The limit counts the manifest: data just under it still fails once encoded.
    (repo / "config" / "big.yaml").unlink()
    (repo / "static" / "blob.bin").write_bytes(b"\xff" * 900_000)
    with pytest.raises(ConfigMapError, match="the manifest is"):
        render_configmap(spec(), repo)
    assert render_configmap(spec(max_bytes=2_000_000), repo).size > 1_000_000


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "App_Config"}, "not a valid ConfigMap name"),
        ({"namespace": "prod.eu"}, "not a valid namespace"),
        ({"labels": (("tier", "-web"),)}, "label 'tier'"),
        ({"labels": (("Bad_Prefix/x", "y"),)}, "prefix"),
        ({"files": ("../secrets/*",)}, "must not contain '..'"),
        ({"files": ("/etc/*",)}, "relative to the repo"),
    ],
)
def test_bad_settings_are_refused(repo: Path, overrides: dict[str, object], message: str) -> None:
    assert any(message in problem for problem in spec_problems(spec(**overrides)))
    with pytest.raises(ConfigMapError, match=re.escape(message)):
        render_configmap(spec(**overrides), repo)


def test_keys_that_cannot_be_config_map_keys(repo: Path) -> None:
    assert config_map_key("a/b/c.txt") == "a__b__c.txt"
    with pytest.raises(ConfigMapError, match="not a valid ConfigMap key"):
        config_map_key("my file.txt")
    (repo / "config" / "with space.yaml").write_text("a: 1\n")
    with pytest.raises(ConfigMapError, match="with space.yaml"):
        render_configmap(spec(), repo)


def test_two_files_with_one_key_and_no_match_are_refused(repo: Path) -> None:
    (repo / "static" / "app.yaml").write_text("clash\n")
    with pytest.raises(ConfigMapError, match="would both have the key 'app.yaml'"):
        render_configmap(spec(files=("config/*.yaml", "static/*.yaml")), repo)
    with pytest.raises(ConfigMapError, match="no files match"):
        render_configmap(spec(files=("nothing/*",)), repo)


def test_a_link_out_of_the_repo_is_refused(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("password\n")
    (repo / "config" / "leak.yaml").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(ConfigMapError, match="outside the repo"):
        render_configmap(spec(), repo)
