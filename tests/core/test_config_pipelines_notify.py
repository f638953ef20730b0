"""Config for pipelines, deploy by tag, the pull mode and notifications: values and file:line."""

from __future__ import annotations

from pathlib import Path

from gitwatch_tui.core.config import NOTIFY_KINDS, EmailTarget, NotifyRate, NotifySettings
from gitwatch_tui.core.config_file import load_config
from gitwatch_tui.core.models import ConfigMapSpec, PipelineStep, StepLimits
from tests.core.configs import problems, write


def test_full_pipeline(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """\
            repos:
              - path: app
                pull: rebase
                pipeline:
                  - name: build
                    run: [make, build]
                    cwd: src
                    env: {MODE: prod, DEBUG: no}
                    secrets: [API_TOKEN]
                    timeout: 2m
                    branches: [main, "release/*"]
                    limits: {cpu: 90s, memory: 2GiB, file_size: 100M, processes: unlimited}
                  - name: smoke
                    run: ./smoke.sh && echo ok
                    on_failure: continue
                  - name: render
                    configmap:
                      name: app-config
                      namespace: prod
                      labels: {app.kubernetes.io/name: app, tier: web}
                      files: ["config/*.yaml", "static/**"]
                      output: deploy/out
                      max_bytes: 512KiB
                      apply: true
            """,
        ),
        {},
    )
    [repo] = config.repos
    assert repo.pull_mode == "rebase" and repo.follow_tag is None
    build, smoke, render = repo.pipeline
    assert build == PipelineStep(
        "build",
        run=("make", "build"),
        cwd="src",
        env=(("MODE", "prod"), ("DEBUG", "no")),
        secrets=("API_TOKEN",),
        timeout=120.0,
        branches=("main", "release/*"),
        limits=StepLimits(
            cpu_seconds=90, address_space=2 * 1024**3, file_size=100 * 1024**2, processes=None
        ),
    )
    assert smoke.run == ("sh", "-c", "./smoke.sh && echo ok") and smoke.on_failure == "continue"
    assert smoke.limits == StepLimits()  # the defaults
    assert render.configmap == ConfigMapSpec(
        name="app-config",
        namespace="prod",
        labels=(("app.kubernetes.io/name", "app"), ("tier", "web")),
        files=("config/*.yaml", "static/**"),
        output="deploy/out",
        max_bytes=512 * 1024,
        apply=True,
    )


def test_defaults_without_the_new_keys(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "repos: [app]\n"), {})
    [repo] = config.repos
    assert (repo.pipeline, repo.follow_tag, repo.pull_mode) == ((), None, "ff-only")
    assert config.notify == NotifySettings() and not config.notify.enabled


def test_follow_tag(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "repos:\n  - {path: app, follow_tag: 'v*'}\n"), {})
    assert config.repos[0].follow_tag == "v*"
    assert problems(
        tmp_path,
        """\
        repos:
          - path: app
            auto_sync: ff-only
            follow_tag: "v*"
          - {path: other, follow_tag: "v 1"}
        """,
    ) == [
        "4:5: follow_tag and auto_sync cannot both be on; set auto_sync: off",
        "5:31: follow_tag: 'v 1' is not a tag pattern such as v*",
    ]


def test_bad_pipeline_values_are_reported_where_they_are(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        repos:
          - path: app
            pull: squash
            pipeline:
              - name: a
                run: []
                timeout: soon
                on_failure: ignore
                cwd: ../elsewhere
              - name: b
              - name: c
                run: [x]
                configmap: {name: x, files: [a]}
              - name: d
                run: [x]
                env: {1BAD: x, GOOD: [list]}
                secrets: [TOKEN, "not a name"]
                limits: {memory: lots, cpu: forever, gpus: 1}
              - name: d
                run: [y]
                env: {TOKEN: x}
                secrets: [TOKEN]
        """,
    )
    assert found == [
        "3:11: pull: invalid value 'squash'; expected one of: ff-only, rebase, merge",
        "6:14: run: the command is empty",
        "7:18: timeout: invalid duration 'soon'; use seconds or a number with a unit: "
        "500ms, 30s, 5m, 1h, 1h30m",
        "8:21: on_failure: invalid value 'ignore'; expected one of: stop, continue",
        "9:14: cwd: '../elsewhere' must be a path inside the repo",
        "10:9: step 'b': give either run or configmap",
        "11:9: step 'c': give either run or configmap",
        "16:15: env: '1BAD' is not an environment variable name",
        "16:30: env: GOOD: expected a string, got a list",
        "17:26: secrets: is not a valid environment variable name",
        "18:26: memory: invalid size 'lots'; use bytes, or a number with K, KB, KiB, M, MB, MiB, "
        "G, GB or GiB, or unlimited",
        "18:37: cpu: invalid duration 'forever'; use seconds or a number with a unit: "
        "500ms, 30s, 5m, 1h, 1h30m",
        "18:46: unknown key 'gpus' in limits; valid keys: cpu, memory, file_size, processes",
        "19:9: step 'd': TOKEN both in env and in secrets",
        "19:9: duplicate step name 'd' (first on line 14)",
    ]


def test_bad_configmap_values(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        repos:
          - path: app
            pipeline:
              - name: render
                configmap:
                  name: App_Config
                  namespace: prod.eu
                  labels: {tier: -web}
                  files: ["../secrets/*"]
                  max_bytes: 2MiB
              - name: nofiles
                configmap: {name: x}
        """,
    )
    assert (
        found[0] == "8:20: label 'tier': the value '-web' must be empty or letters, digits, "
        "'-', '_' or '.', starting and ending with a letter or digit, at most 63"
    )
    assert found[1] == "10:22: max_bytes: must be at most 1MiB, got '2MiB'"
    assert found[2].startswith("6:11: configmap: name 'App_Config' is not a valid ConfigMap name")
    assert found[3].startswith("6:11: configmap: namespace 'prod.eu' is not a valid namespace")
    assert found[4] == "6:11: configmap: files: '../secrets/*' must not contain '..'"
    assert found[5:] == ["12:20: missing required key 'files' in configmap"]


def test_full_notify_section(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """\
            notify:
              on: [sync-failed, pipeline-failed]
              webhook: {url: "https://hooks.example.com/${HOOK_TOKEN}", timeout: 5s, retries: 2}
              email:
                host: smtp.example.com
                port: 2525
                starttls: false
                username_env: SMTP_USER
                password_env: SMTP_PASSWORD
                from: gitwatch@example.com
                to: [ops@example.com, dev@example.com]
              rate: {window: 10m, max_per_hour: 20}
            """,
        ),
        {"HOOK_TOKEN": "t0ken"},
    )
    notify = config.notify
    assert notify.on == ("sync-failed", "pipeline-failed") and notify.enabled
    assert notify.webhook is not None
    assert (notify.webhook.url, notify.webhook.timeout, notify.webhook.retries) == (
        "https://hooks.example.com/t0ken", 5.0, 2,
    )  # fmt: skip
    assert "t0ken" not in repr(config)  # a token in the URL stays out of logs and reprs
    assert notify.email == EmailTarget(
        host="smtp.example.com",
        sender="gitwatch@example.com",
        to=("ops@example.com", "dev@example.com"),
        port=2525,
        starttls=False,
        username_env="SMTP_USER",
        password_env="SMTP_PASSWORD",
    )
    assert notify.rate == NotifyRate(window=600.0, max_per_hour=20)
    # `on` left out means every kind.
    config = load_config(write(tmp_path, "notify: {webhook: {url: 'http://127.0.0.1:1/'}}\n"), {})
    assert config.notify.on == NOTIFY_KINDS


def test_bad_notify_values(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        notify:
          on: [sync-failed, pipeline-fail]
          webhook: {url: "ftp://x/${TOKEN}", retries: -1}
          email:
            host: smtp.example.com
            port: 70000
            tls: true
            starttls: true
            from: not-an-address
            to: []
            password_env: "$PASS"
          rate: {window: 0}
          sms: {}
        """,
        {"TOKEN": "secret-value"},
    )
    assert found == [
        "2:7: on: unknown event 'pipeline-fail'; did you mean 'pipeline-failed'?",
        "3:18: url: 'ftp://x/${TOKEN}' is not an http:// or https:// URL",
        "3:47: retries: must be at least 0, got -1",
        "6:11: port: must be at most 65535, got 70000",
        "9:11: from: 'not-an-address' is not an e-mail address",
        "10:9: to: at least one address is needed",
        "11:19: password_env: is not a valid environment variable name",
        "5:5: notify.email: tls (port 465) and starttls are exclusive; set one",
        "12:18: window: must be greater than 0, got '0'",
        "13:3: unknown key 'sms' in notify; valid keys: on, webhook, email, rate",
    ]
    assert not any("secret-value" in problem for problem in found)
