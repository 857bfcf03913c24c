"""Fly.io sandbox policies, over the FlySandbox component's registered inputs.

Fly resources are driven through flyctl, so there is no provider resource to inspect; the
FlySandbox component registers its whole spec and the rendered fly.toml as inputs instead.
The engine sends component resources to Analyze with their inputs (it analyzes every
registration, custom or not), so these are per-resource policies like the AWS ones.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from typing import Any

from pulumi_policy import Severity

from .graph import FLY_SANDBOX
from .rule import Config, Resource, Rule, integer, rule_family, string_list
from .secrets import secret_params, secret_problems
from .values import as_dict, as_int, as_str, is_unknown

TYPES = (FLY_SANDBOX,)
NO_SPEC = "the Fly sandbox registers no 'spec' input, so nothing about it can be checked"


def spec(resource: Resource) -> dict[str, Any] | None:
    value = resource.props.get("spec")
    return value if isinstance(value, dict) else None


def fly_toml(resource: Resource) -> dict[str, Any] | str | None:
    """The parsed fly.toml; None when absent or unknown, an error string when malformed."""
    text = resource.props.get("flyToml")
    if text is None or is_unknown(text):
        return None
    if not isinstance(text, str):
        return "flyToml is not text"
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return f"flyToml is not valid TOML ({error})"


def _vm(resource: Resource, config: Config) -> Iterator[str]:
    sandbox = spec(resource)
    if sandbox is None:
        yield NO_SPEC
        return
    vm = as_dict(sandbox.get("vm"))
    memory, cpus, size = as_int(vm.get("memoryMb")), as_int(vm.get("cpus")), vm.get("size")
    max_memory, max_cpus = config.get_int("maxMemoryMb"), config.get_int("maxCpus")
    sizes = config.get_strs("allowedVmSizes")
    if memory is None or memory > max_memory:
        yield f"vm.memoryMb is {vm.get('memoryMb')!r}; allowed: at most {max_memory}"
    if cpus is None or cpus > max_cpus:
        yield f"vm.cpus is {vm.get('cpus')!r}; allowed: at most {max_cpus}"
    if not is_unknown(size) and size not in sizes:
        yield f"vm.size is {size!r}; allowed: {sizes}"


def _no_public_ips(resource: Resource, _: Config) -> Iterator[str]:
    sandbox = spec(resource)
    if sandbox is None:
        yield NO_SPEC
    elif sandbox.get("publicIps") is not False and not is_unknown(sandbox.get("publicIps")):
        yield f"publicIps is {sandbox.get('publicIps')!r}; the sandbox must have no public IP"


def _volume(resource: Resource, config: Config) -> Iterator[str]:
    sandbox = spec(resource)
    if sandbox is None:
        yield NO_SPEC
        return
    volume = sandbox.get("volume")
    if volume is None:
        return
    size, maximum = as_int(as_dict(volume).get("sizeGb")), config.get_int("maxVolumeGb")
    if size is None or size > maximum:
        yield f"volume.sizeGb is {as_dict(volume).get('sizeGb')!r}; allowed: at most {maximum}"


def _env_secrets(resource: Resource, config: Config) -> Iterator[str]:
    sandbox = spec(resource)
    if sandbox is None:
        yield NO_SPEC
        return
    yield from (f"spec.env: {p}" for p in secret_problems(as_dict(sandbox.get("env")), config))
    parsed = fly_toml(resource)
    if isinstance(parsed, str):
        yield parsed
    elif parsed is not None:
        yield from (
            f"fly.toml [env]: {p}" for p in secret_problems(as_dict(parsed.get("env")), config)
        )


def _health_check(resource: Resource, _: Config) -> Iterator[str]:
    sandbox = spec(resource)
    if sandbox is None:
        yield NO_SPEC
        return
    check = sandbox.get("healthCheck")
    if is_unknown(check):
        return
    if not isinstance(check, dict):
        yield "the Fly sandbox has no health check"
    elif not as_str(check.get("path")) or as_int(check.get("port")) is None:
        yield "the health check names no path and port"


def _restart(resource: Resource, config: Config) -> Iterator[str]:
    sandbox = spec(resource)
    if sandbox is None:
        yield NO_SPEC
        return
    restart = sandbox.get("restart")
    allowed = config.get_strs("allowedRestartPolicies")
    if is_unknown(restart):
        return
    if not isinstance(restart, dict):
        yield "the Fly sandbox has no restart policy"
    elif restart.get("policy") not in allowed:
        yield f"restart.policy is {restart.get('policy')!r}; allowed: {allowed}"


def _region(resource: Resource, config: Config) -> Iterator[str]:
    sandbox = spec(resource)
    if sandbox is None:
        yield NO_SPEC
        return
    region, allowed = sandbox.get("region"), config.get_strs("allowedRegions")
    if not is_unknown(region) and region not in allowed:
        yield f"region is {region!r}; allowed: {allowed}"


_fly_rule = rule_family(TYPES, ("fly",), Severity.HIGH)


RULES: tuple[Rule, ...] = (
    _fly_rule(
        "fly-vm-size",
        "The Fly Machine's memory, cpus and size are within the runbook's.",
        "Resources: 256 MB on Fly, shared-cpu-1x",
        "set fly.memoryMb, fly.cpus and fly.vmSize within the limits",
        _vm,
        severity=Severity.MEDIUM,
        params=(
            integer("maxMemoryMb", 256, "Most memory a Fly Machine may have, in MB.", 256),
            integer("maxCpus", 1, "Most CPUs a Fly Machine may have.", 1),
            string_list("allowedVmSizes", ("shared-cpu-1x",), "Fly VM sizes allowed."),
        ),
    ),
    _fly_rule(
        "fly-no-public-ips",
        "The Fly app allocates no public IP address.",
        "Network: the sandbox takes no inbound traffic",
        "set fly.publicIps: false; reach the sandbox over the private 6PN network",
        _no_public_ips,
        severity=Severity.CRITICAL,
    ),
    _fly_rule(
        "fly-volume-size",
        "The Fly volume is within the configured size.",
        "Filesystem: only /workspace is writable, and bounded",
        "lower fly.volume.sizeGb",
        _volume,
        severity=Severity.LOW,
        params=(integer("maxVolumeGb", 10, "Largest Fly volume, in GB.", 1),),
    ),
    _fly_rule(
        "fly-no-plaintext-secrets",
        "No variable in the Fly sandbox's env or fly.toml [env] "
        "has a secret-looking name or value.",
        "Secrets: never in plain text",
        "declare it under secrets with a configKey; it is then set with flyctl secrets import",
        _env_secrets,
        severity=Severity.CRITICAL,
        params=secret_params(),
    ),
    _fly_rule(
        "fly-health-check",
        "The Fly sandbox has a health check with a path and port.",
        "Availability: a hung agent is detected",
        "set fly.healthCheckPath and fly.internalPort",
        _health_check,
        severity=Severity.MEDIUM,
    ),
    _fly_rule(
        "fly-restart-policy",
        "The Fly sandbox has a restart policy from the allowed set.",
        "Availability: a crashed agent restarts, a bounded number of times",
        "set fly.restart.policy to on-failure (with maxRetries) or always",
        _restart,
        severity=Severity.MEDIUM,
        params=(
            string_list(
                "allowedRestartPolicies", ("on-failure", "always"), "Restart policies allowed."
            ),
        ),
    ),
    _fly_rule(
        "fly-region",
        "The Fly sandbox runs in an allowed region.",
        "Data residency: the seed runs in sin",
        "set fly.region to an allowed region, or extend allowedRegions",
        _region,
        severity=Severity.MEDIUM,
        params=(string_list("allowedRegions", ("sin",), "Fly regions a sandbox may run in."),),
    ),
)
