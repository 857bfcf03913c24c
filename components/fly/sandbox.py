"""A Fly.io sandbox as a Pulumi component: flyctl, driven by pulumi-command, one Command per
lifecycle concern so that each config change maps to the smallest flyctl call.

    {name}-app      ensure the app (adopt if it exists); destroy it on delete
    {name}-volume   ensure the /workspace volume; kept across deploys, deleted with the app
    {name}-secrets  stage secrets from stdin before the deploy
    {name}-deploy   flyctl deploy --config <rendered fly.toml>, then wait for health checks
    {name}-scale    the running flag: scale count 1 or 0

Commands run `bash <script>` through pulumi-command's default `/bin/sh -c`: the scripts use
`set -euo pipefail` and arrays, which POSIX sh lacks (dash only gained pipefail in 0.5.11).
The command strings are constants; every value reaches a script through `environment`.
Secret values travel only as secret Outputs (stdin, FLY_API_TOKEN, fingerprints), which
Pulumi encrypts in state, and the outputs that could echo them are marked secret.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_command import local

from components.config import FlySandbox as FlySandboxConfig
from components.fly.fly_toml import hostname, render_fly_toml, sandbox_spec
from components.hardening.delivery import FlyLauncherDelivery, fly_delivery
from components.hardening.model import HardeningModel
from components.hardening.spec import to_launcher_spec

COMPONENT_TYPE = "agent-sandbox:fly:Sandbox"
# Relative to the project root, where Pulumi runs the program and its providers.
SCRIPTS_DIR = "components/fly/scripts"


@dataclass(frozen=True)
class FlySandboxArgs:
    sandbox: FlySandboxConfig
    hardening: HardeningModel
    """Mapped to the Machine: [[vm]] limits by Fly, everything else by the launcher."""
    secrets: Mapping[str, pulumi.Output[str]]
    """Env NAME -> secret value, one per entry of ``sandbox.secrets``."""
    fly_api_token: pulumi.Output[str] | None = None
    """None: the scripts use FLY_API_TOKEN from the environment of whoever runs pulumi."""


def launcher_for(
    sandbox: FlySandboxConfig, hardening: HardeningModel
) -> FlyLauncherDelivery | None:
    """The launcher's [[files]] and wrapped command, or None when the config turns it off.

    A Fly Machine is a VM with no container runtime, so the launcher is what applies seccomp,
    the read-only root, the /tmp tmpfs, the rlimits and the drop to the sandbox user.
    """
    if not hardening.launcher:
        return None
    return fly_delivery(to_launcher_spec(hardening), sandbox.command)


def script_command(script: str, *arguments: str) -> str:
    return " ".join(["bash", f"{SCRIPTS_DIR}/{script}", *arguments])


def secret_lines(values: Mapping[str, str]) -> str:
    """NAME=VALUE lines for ``flyctl secrets import``; a line break would split a value."""
    for name, value in values.items():
        if "\n" in value or "\r" in value or "\0" in value:
            raise ValueError(
                f"secret {name!r} contains a line break or NUL, which flyctl secrets import "
                "cannot take; allowed: a single-line value"
            )
    return "".join(f"{name}={values[name]}\n" for name in sorted(values))


def fingerprint(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def parse_machine_count(stdout: str, desired: int) -> int:
    """scale.sh prints the machine count; stdout is empty only when nothing ran (a preview)."""
    text = stdout.strip()
    if not text:
        return desired
    if not text.isdigit():
        raise ValueError(f"scale.sh printed {text!r}; expected a machine count")
    return int(text)


class FlySandbox(pulumi.ComponentResource):
    """One sandbox on one Fly Machine, with its volume, secrets and health-verified deploys."""

    app_name: pulumi.Output[str]
    hostname: pulumi.Output[str]
    machine_count: pulumi.Output[int]
    fly_toml: pulumi.Output[str]

    def __init__(
        self, name: str, args: FlySandboxArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        sandbox = args.sandbox
        fly = sandbox.fly
        _check_secret_names(sandbox, args.secrets)
        launcher = launcher_for(sandbox, args.hardening)
        toml_text = render_fly_toml(
            sandbox,
            files=launcher.files if launcher else None,
            process_command=launcher.process_command if launcher else None,
        )
        super().__init__(
            COMPONENT_TYPE, name, {"spec": sandbox_spec(sandbox), "flyToml": toml_text}, opts
        )

        base_env: dict[str, pulumi.Input[str]] = {"FLY_APP": fly.app, "FLY_ORG": fly.org}
        if args.fly_api_token is not None:
            base_env["FLY_API_TOKEN"] = pulumi.Output.secret(args.fly_api_token)

        def child(*depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

        # Replaced only when the app name changes: the new app is created first, then the old
        # one destroyed, which is safe because the two names differ.
        app = local.Command(
            f"{name}-app",
            create=script_command("app.sh", "create"),
            delete=script_command("app.sh", "delete"),
            environment=base_env,
            triggers=[fly.app],
            opts=child(),
        )
        volume = local.Command(
            f"{name}-volume",
            create=script_command("volume.sh"),
            environment={
                **base_env,
                "FLY_REGION": fly.region,
                "FLY_VOLUME": fly.volume.name,
                "FLY_VOLUME_SIZE_GB": str(fly.volume.size_gb),
            },
            opts=child(app),
        )

        names = sorted(args.secrets)
        stdin: pulumi.Output[str] | None = None
        if names:
            stdin = pulumi.Output.secret(
                pulumi.Output.all(*(args.secrets[n] for n in names)).apply(
                    lambda values: secret_lines(dict(zip(names, values, strict=True)))
                )
            )
            # Derived from the values, so it stays a secret Output: encrypted in state.
            secrets_fingerprint: pulumi.Input[str] = stdin.apply(
                lambda lines: fingerprint(fly.app, fly.org, lines)
            )
        else:
            secrets_fingerprint = fingerprint(fly.app, fly.org, "")
        secrets = local.Command(
            f"{name}-secrets",
            create=script_command("secrets.sh"),
            stdin=stdin,
            environment={
                **base_env,
                "FLY_SECRET_NAMES": " ".join(names),
                "FLY_SECRETS_FINGERPRINT": secrets_fingerprint,
            },
            logging=local.Logging.NONE,
            opts=pulumi.ResourceOptions.merge(
                child(volume),
                pulumi.ResourceOptions(additional_secret_outputs=["stdout", "stderr"]),
            ),
        )

        public_ips = "true" if fly.public_ips else "false"
        # What a rollout changes: the config, the image and the secrets. Token, timeouts and the
        # running flag are left out, so changing only those deploys nothing.
        deploy_fingerprint = pulumi.Output.from_input(secrets_fingerprint).apply(
            lambda secret_part: fingerprint(toml_text, sandbox.image, public_ips, secret_part)
        )
        deploy = local.Command(
            f"{name}-deploy",
            create=script_command("deploy.sh"),
            environment={
                **base_env,
                "FLY_TOML": toml_text,
                "FLY_IMAGE": sandbox.image,
                "FLY_DEPLOY_STRATEGY": fly.deploy_strategy,
                "FLY_WAIT_TIMEOUT_SECONDS": str(fly.wait_timeout_seconds),
                "FLY_HEALTH_TIMEOUT_SECONDS": str(fly.health_timeout_seconds),
                "FLY_PUBLIC_IPS": public_ips,
                "FLY_RUNNING": "true" if sandbox.running else "false",
                "FLY_DEPLOY_FINGERPRINT": deploy_fingerprint,
            },
            logging=local.Logging.STDERR,
            opts=pulumi.ResourceOptions.merge(
                child(secrets), pulumi.ResourceOptions(additional_secret_outputs=["stdout"])
            ),
        )
        desired = 1 if sandbox.running else 0
        scale = local.Command(
            f"{name}-scale",
            create=script_command("scale.sh"),
            environment={
                **base_env,
                "FLY_REGION": fly.region,
                "FLY_MACHINE_COUNT": str(desired),
                "FLY_HEALTH_TIMEOUT_SECONDS": str(fly.health_timeout_seconds),
            },
            opts=child(deploy),
        )

        self.app_name = app.id.apply(lambda _: fly.app)
        self.hostname = deploy.id.apply(lambda _: hostname(sandbox))
        # The count is a number scale.sh printed; its stdout is secret only because the token
        # may be among the Command's inputs.
        self.machine_count = pulumi.Output.unsecret(
            scale.stdout.apply(lambda out: parse_machine_count(out, desired))
        )
        self.fly_toml = pulumi.Output.from_input(toml_text)
        self.register_outputs(
            {
                # The engine's AnalyzeStack sees a component's outputs, not its inputs.
                "spec": sandbox_spec(sandbox),
                "appName": self.app_name,
                "hostname": self.hostname,
                "machineCount": self.machine_count,
                "flyToml": self.fly_toml,
            }
        )


def _check_secret_names(sandbox: FlySandboxConfig, secrets: Mapping[str, object]) -> None:
    declared = {secret.name for secret in sandbox.secrets}
    missing = sorted(declared - set(secrets))
    extra = sorted(set(secrets) - declared)
    if missing or extra:
        raise ValueError(
            f"sandbox {sandbox.name!r}: secret values given for {sorted(secrets)!r} but the config "
            f"declares {sorted(declared)!r} (missing: {missing!r}, undeclared: {extra!r})"
        )
