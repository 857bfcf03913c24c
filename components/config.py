"""Typed, validated stack configuration.

Every value a stack can set is declared here with its default, and the defaults are the
runbook's secure choices (the AWS CDK L2 habit). The whole stack config is validated before
the program registers a single resource, so a bad value can never leave half a deployment
behind. Each problem is reported as one line naming the config key, the bad value and what
is allowed.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

PROJECT = "agent-sandbox"

# Sandbox names become Fly app names, ECS/IAM/log-group name prefixes and DNS labels, so they
# take the intersection of what every one of those accepts. 32 leaves room for the suffixes
# ("-execution-role") and Pulumi's 8-character auto-name suffix within IAM's 64.
SANDBOX_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
# Fly app names: lowercase letters, digits and dashes, at most 63 characters.
FLY_APP_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")
FLY_VOLUME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
DIGEST_PINNED_IMAGE = re.compile(
    r"^(?P<repository>[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?@sha256:(?P<digest>[0-9a-f]{64})$"
)
HOSTNAME_PATTERN = re.compile(
    r"^(\*\.)?(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
ENV_NAME_PATTERN = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
CONFIG_KEY_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9]{0,63}$")
SSM_PARAMETER_PATTERN = re.compile(r"^/[a-zA-Z0-9_.\-/]{1,1010}$")
SECRETS_MANAGER_ARN_PATTERN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"
)
AWS_REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
# EC2 accepts only these characters in security-group and rule descriptions.
EC2_DESCRIPTION_PATTERN = re.compile(r"^[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}$")
# A host entry opens its port to every address; on a DNS port that would let the sandbox ask
# any resolver and bypass the DNS firewall.
DNS_PORTS = frozenset({53, 853})
TAG_KEY_PATTERN = re.compile(r"^[\w .:/=+\-@]{1,128}$")

# Fargate's valid task sizes: cpu units -> allowed memory in MiB.
FARGATE_CPU_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
}

# Linux capability names (capabilities(7)); ECS and Docker spell them without CAP_.
LINUX_CAPABILITIES = frozenset(
    [
        "AUDIT_CONTROL",
        "AUDIT_READ",
        "AUDIT_WRITE",
        "BLOCK_SUSPEND",
        "BPF",
        "CHECKPOINT_RESTORE",
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "IPC_LOCK",
        "IPC_OWNER",
        "KILL",
        "LEASE",
        "LINUX_IMMUTABLE",
        "MAC_ADMIN",
        "MAC_OVERRIDE",
        "MKNOD",
        "NET_ADMIN",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_RAW",
        "PERFMON",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_CHROOT",
        "SYS_MODULE",
        "SYS_NICE",
        "SYS_PACCT",
        "SYS_PTRACE",
        "SYS_RAWIO",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "SYSLOG",
        "WAKE_ALARM",
    ]
)

AGENT_TYPES = ("ops_agent", "dev_agent", "pm_agent")
FLY_VM_SIZES = (
    "shared-cpu-1x",
    "shared-cpu-2x",
    "shared-cpu-4x",
    "shared-cpu-8x",
    "performance-1x",
    "performance-2x",
    "performance-4x",
    "performance-8x",
    "performance-16x",
)
FLY_REGIONS = [
    "ams",
    "arn",
    "bom",
    "cdg",
    "dfw",
    "ewr",
    "fra",
    "gru",
    "iad",
    "jnb",
    "lax",
    "lhr",
    "nrt",
    "ord",
    "sin",
    "sjc",
    "syd",
    "yul",
    "yyz",
]
GIB = 1024**3


class ConfigError(ValueError):
    """The stack config is invalid; the message has one line per problem."""


class _Model(BaseModel):
    """Config models: camelCase keys as in the stack file, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
        frozen=True,
        str_strip_whitespace=False,
    )

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        # Done by hand, not with extra="forbid", so the message can list the allowed keys.
        if isinstance(data, Mapping):
            allowed = {field.alias or name for name, field in cls.model_fields.items()}
            unknown = sorted(str(key) for key in data if key not in allowed)
            if unknown:
                raise ValueError(
                    f"unknown key {unknown[0]!r}; allowed keys: {', '.join(sorted(allowed))}"
                )
        return data


def _one_of(value: object, allowed: object) -> str:
    return f"{value!r} is not allowed; allowed: {allowed}"


# --------------------------------------------------------------------------- egress


class EgressRule(_Model):
    """One allowlist entry: a destination (a host name or a CIDR), ports and a protocol."""

    host: str | None = None
    """A DNS name (or *.name) the sandbox may reach; enforced by the DNS firewall."""
    cidr: str | None = None
    """An IPv4 or IPv6 network the sandbox may reach; enforced by the security group."""
    ports: tuple[int, ...]
    """Destination ports, 1-65535; one security-group rule each."""
    protocol: Literal["tcp", "udp"] = "tcp"
    """tcp or udp; host entries are tcp only. Never all protocols."""
    description: str
    """Why this destination is allowed; becomes the rule description (EC2 charset)."""

    @field_validator("description")
    @classmethod
    def _ec2_description(cls, description: str) -> str:
        if not EC2_DESCRIPTION_PATTERN.match(description):
            raise ValueError(
                _one_of(
                    description,
                    "1-255 characters from a-z A-Z 0-9 space and ._-:/()#,@[]+=&;{}!$* "
                    "(what EC2 accepts in a rule description)",
                )
            )
        return description

    @field_validator("host")
    @classmethod
    def _host_is_a_dns_name(cls, host: str | None) -> str | None:
        if host is not None and not HOSTNAME_PATTERN.match(host):
            raise ValueError(
                _one_of(host, "a lowercase DNS name such as 'api.render.com' or '*.github.com'")
            )
        return host

    @field_validator("cidr")
    @classmethod
    def _cidr_is_a_network(cls, cidr: str | None) -> str | None:
        if cidr is None:
            return None
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            raise ValueError(
                _one_of(cidr, "an IPv4 or IPv6 network in CIDR form with no host bits set")
            ) from None
        return str(network)

    @field_validator("ports")
    @classmethod
    def _ports_in_range(cls, ports: tuple[int, ...]) -> tuple[int, ...]:
        if not ports:
            raise ValueError("an empty port list is not allowed; allowed: 1 to 65535")
        for port in ports:
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} is not allowed; allowed: 1 to 65535")
        if len(set(ports)) != len(ports):
            raise ValueError(f"{list(ports)!r} repeats a port; allowed: distinct ports")
        return ports

    @model_validator(mode="after")
    def _exactly_one_destination(self) -> EgressRule:
        if (self.host is None) == (self.cidr is None):
            raise ValueError(
                f"@host: host={self.host!r}, cidr={self.cidr!r} is not allowed; allowed: "
                "exactly one of 'host' or 'cidr'"
            )
        if self.host is not None and self.protocol != "tcp":
            raise ValueError(
                f"@protocol: {self.protocol!r} for host {self.host!r} is not allowed; allowed: "
                "'tcp' (a host entry opens its port to every address), or a 'cidr' entry for UDP"
            )
        dns_ports = sorted(DNS_PORTS.intersection(self.ports))
        if self.host is not None and dns_ports:
            raise ValueError(
                f"@ports: port {dns_ports[0]} for host {self.host!r} is not allowed; allowed: "
                "non-DNS ports (DNS to any address would bypass the DNS firewall); allow DNS "
                "with a 'cidr' entry for the resolver, 169.254.169.253/32"
            )
        if self.cidr is not None and ipaddress.ip_network(self.cidr).prefixlen == 0:
            raise ValueError(
                f"@cidr: {self.cidr!r} would allow traffic to every address; allowed: a "
                "specific network, or a 'host' entry enforced by the DNS firewall"
            )
        return self

    @property
    def destination(self) -> str:
        return self.host if self.host is not None else str(self.cidr)


# --------------------------------------------------------------------------- network


class CreateNetwork(_Model):
    """A VPC the stack creates: private subnets only, plus a NAT gateway for allowlisted egress."""

    mode: Literal["create"]
    """create: the stack creates the VPC."""
    cidr: str = "10.40.0.0/16"
    """The VPC block: private IPv4, /16 to /24."""
    availability_zones: tuple[str, ...] = Field(min_length=2, max_length=3)
    """Two or three zones; one private subnet each."""
    nat_gateway: bool = True
    """One NAT gateway, the sandbox's only route to its allowlisted hosts."""

    @field_validator("cidr")
    @classmethod
    def _private_cidr(cls, cidr: str) -> str:
        try:
            network = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError:
            raise ValueError(_one_of(cidr, "an IPv4 CIDR block such as '10.40.0.0/16'")) from None
        if not network.is_private or not 16 <= network.prefixlen <= 24:
            raise ValueError(_one_of(cidr, "a private IPv4 block from /16 to /24"))
        return cidr

    @field_validator("availability_zones")
    @classmethod
    def _zone_names(cls, zones: tuple[str, ...]) -> tuple[str, ...]:
        for zone in zones:
            if not re.match(r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$", zone):
                raise ValueError(_one_of(zone, "an availability zone name such as 'us-west-2a'"))
        if len(set(zones)) != len(zones):
            raise ValueError(f"{list(zones)!r} repeats a zone; allowed: distinct zones")
        return zones


class ExistingNetwork(_Model):
    """A VPC that already exists; the sandboxes go into the given private subnets."""

    mode: Literal["existing"]
    """existing: use a VPC the stack does not own."""
    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$")
    """The VPC id."""
    private_subnet_ids: tuple[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")], ...] = (
        Field(min_length=1)
    )
    """Private subnets the sandboxes run in."""
    dns_firewall: bool = True
    """Associate the DNS firewall with that VPC."""


NetworkConfig = Annotated[CreateNetwork | ExistingNetwork, Field(discriminator="mode")]


# --------------------------------------------------------------------------- hardening


class Ulimit(_Model):
    soft: int = Field(ge=0)
    """Soft limit."""
    hard: int = Field(ge=0)
    """Hard limit; at least soft."""

    @model_validator(mode="after")
    def _soft_within_hard(self) -> Ulimit:
        if self.soft > self.hard:
            raise ValueError(
                f"@soft: soft limit {self.soft} exceeds hard limit {self.hard}; "
                "allowed: soft <= hard"
            )
        return self


class Ulimits(_Model):
    """The runbook's ulimits. Loosening one is allowed here; the policy pack then blocks it."""

    nofile: Ulimit = Ulimit(soft=1024, hard=2048)
    """Open files."""
    nproc: Ulimit = Ulimit(soft=100, hard=100)
    """Processes of the sandbox user."""
    fsize: Ulimit = Ulimit(soft=10 * GIB, hard=10 * GIB)
    """Largest file, bytes (Fargate caps it at ECS's 2147483647)."""
    cpu: Ulimit = Ulimit(soft=3600, hard=3600)
    """CPU seconds per process."""


class RunAsUser(_Model):
    uid: int = Field(default=1001, ge=0, le=2**31 - 1)
    """User id the agent runs as (the seed image's agentuser)."""
    gid: int = Field(default=1001, ge=0, le=2**31 - 1)
    """Group id the agent runs as."""


class Hardening(_Model):
    """Runtime controls for one sandbox. Every default is the runbook's value.

    A control can be loosened explicitly (for example ``readonlyRootFilesystem: false``); the
    config accepts that so that the policy pack, not a silent default, reports it.
    """

    readonly_root_filesystem: bool = True
    """Read-only root; /tmp and /workspace are the only writable paths."""
    run_as: RunAsUser = RunAsUser()
    """The non-root uid and gid."""
    capabilities_add: tuple[str, ...] = ()
    """Capabilities added back after dropping ALL (Fargate allows only SYS_PTRACE)."""
    ulimits: Ulimits = Ulimits()
    """The runbook's ulimits."""
    pids_limit: int = Field(default=100, ge=1, le=4_194_304)
    """Most processes at once (applied as RLIMIT_NPROC by the launcher)."""
    tmp_size_mib: int = Field(default=1024, ge=16, le=20_480)
    """Size of the /tmp tmpfs, MiB (where the platform allows a tmpfs)."""
    seccomp_profile: Literal["sandbox"] = "sandbox"
    """The seccomp profile, from components/seccomp/<name>.json."""
    launcher: bool = True
    """Start the agent under the sandbox launcher (seccomp, no_new_privs, rlimits, mounts)."""

    @field_validator("capabilities_add")
    @classmethod
    def _known_capabilities(cls, capabilities: tuple[str, ...]) -> tuple[str, ...]:
        for capability in capabilities:
            if capability not in LINUX_CAPABILITIES:
                raise ValueError(
                    _one_of(capability, "a Linux capability name without CAP_, e.g. SYS_PTRACE")
                )
        return capabilities


# --------------------------------------------------------------------------- secrets


class SecretRef(_Model):
    """Where a secret comes from. Its value never enters the stack config in plain text.

    Fargate reads secrets at task start from SSM Parameter Store or Secrets Manager; Fly gets
    them from a Pulumi secret config key of this stack.
    """

    name: str
    """Environment variable name the secret is exposed as."""
    ssm_parameter: str | None = None
    """Fargate: SSM parameter path read by ECS at task start."""
    secrets_manager_arn: str | None = None
    """Fargate: Secrets Manager secret ARN read by ECS at task start."""
    config_key: str | None = None
    """Fly: a Pulumi secret config key of this stack."""

    @field_validator("name")
    @classmethod
    def _env_name(cls, name: str) -> str:
        if not ENV_NAME_PATTERN.match(name):
            raise ValueError(_one_of(name, "an environment variable name like RENDER_API_KEY"))
        return name

    @field_validator("ssm_parameter")
    @classmethod
    def _ssm_name(cls, parameter: str | None) -> str | None:
        if parameter is not None and not SSM_PARAMETER_PATTERN.match(parameter):
            raise ValueError(_one_of(parameter, "an SSM parameter path starting with '/'"))
        return parameter

    @field_validator("secrets_manager_arn")
    @classmethod
    def _secrets_manager_arn(cls, arn: str | None) -> str | None:
        if arn is not None and not SECRETS_MANAGER_ARN_PATTERN.match(arn):
            raise ValueError(_one_of(arn, "a Secrets Manager secret ARN"))
        return arn

    @field_validator("config_key")
    @classmethod
    def _config_key(cls, key: str | None) -> str | None:
        if key is not None and not CONFIG_KEY_PATTERN.match(key):
            raise ValueError(_one_of(key, "a camelCase config key name of this project"))
        return key

    @model_validator(mode="after")
    def _exactly_one_source(self) -> SecretRef:
        sources = [self.ssm_parameter, self.secrets_manager_arn, self.config_key]
        if sum(source is not None for source in sources) != 1:
            raise ValueError(
                f"@name: secret {self.name!r} needs exactly one of 'ssmParameter', "
                "'secretsManagerArn' or 'configKey'"
            )
        return self


# --------------------------------------------------------------------------- sandboxes


class FargateSettings(_Model):
    """Fargate sizing and service settings. cpu is in CPU units (1024 = 1 vCPU), memory in MiB."""

    cpu: int = 256
    """Task CPU units (1024 = 1 vCPU): 256, 512, 1024, 2048 or 4096."""
    memory: int = 512
    """Task memory, MiB; must pair with cpu as AWS allows."""
    desired_count: int = Field(default=1, ge=0, le=10)
    """Tasks while running; 0 keeps the service for on-demand RunTask."""
    assign_public_ip: bool = False
    """Give the task a public IP (the policy pack blocks it)."""
    enable_execute_command: bool = False
    """ECS Exec into the task (the policy pack blocks it)."""
    platform_version: str = "LATEST"
    """Fargate platform version: LATEST or 1.4.0 and newer."""
    log_retention_days: Literal[
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653
    ] = 30
    """Days CloudWatch keeps the sandbox's logs."""
    container_port: int = Field(default=8080, ge=1, le=65535)
    """Port of the agent's HTTP server."""
    health_check_path: str = Field(default="/health", pattern=r"^/[A-Za-z0-9/_.-]*$")
    """Health endpoint, checked inside the sandbox."""

    @model_validator(mode="after")
    def _valid_task_size(self) -> FargateSettings:
        if self.cpu not in FARGATE_CPU_MEMORY:
            raise ValueError(
                f"@cpu: {self.cpu} is not allowed; "
                f"allowed: {', '.join(map(str, FARGATE_CPU_MEMORY))}"
            )
        allowed = FARGATE_CPU_MEMORY[self.cpu]
        if self.memory not in allowed:
            span = (
                ", ".join(map(str, allowed))
                if len(allowed) <= 3
                else f"{allowed[0]} to {allowed[-1]} in steps of 1024"
            )
            raise ValueError(
                f"@memory: {self.memory} MiB is not allowed with cpu {self.cpu}; allowed: {span}"
            )
        return self

    @field_validator("platform_version")
    @classmethod
    def _platform_version(cls, version: str) -> str:
        if version != "LATEST" and not re.match(r"^1\.\d+\.\d+$", version):
            raise ValueError(_one_of(version, "'LATEST' or a version such as '1.4.0'"))
        return version


class FlyVolume(_Model):
    name: str = "workspace"
    """Fly volume name."""
    size_gb: int = Field(default=1, ge=1, le=500)
    """Volume size, GB; created once, kept across deploys."""

    @field_validator("name")
    @classmethod
    def _fly_volume_name(cls, name: str) -> str:
        if not FLY_VOLUME_PATTERN.match(name):
            raise ValueError(
                _one_of(name, "lowercase letters, digits and underscores, at most 30 characters")
            )
        return name


class FlyRestart(_Model):
    policy: Literal["always", "on-failure", "never"] = "on-failure"
    """Fly restart policy."""
    max_retries: int = Field(default=3, ge=0, le=100)
    """Restarts before Fly gives up (on-failure)."""


class FlySettings(_Model):
    """The Fly app, its single Machine's size, its volume and how deploys are rolled out."""

    app: str
    """Fly app name."""
    region: str
    """Fly region of the Machine and its volume."""
    org: str = Field(default="personal", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    """Fly organization that owns the app."""
    vm_size: str = "shared-cpu-1x"
    """Fly VM size preset."""
    cpu_kind: Literal["shared", "performance"] = "shared"
    """Fly CPU kind."""
    cpus: int = Field(default=1, ge=1, le=16)
    """vCPUs."""
    memory_mb: int = Field(default=256, ge=256, le=131_072)
    """Memory, MB, a multiple of 256."""
    volume: FlyVolume = FlyVolume()
    """The /workspace volume."""
    public_ips: bool = False
    """Allocate public IPs (the policy pack blocks it)."""
    deploy_strategy: Literal["immediate", "rolling", "bluegreen", "canary"] = "immediate"
    """flyctl deploy --strategy."""
    wait_timeout_seconds: int = Field(default=300, ge=30, le=3600)
    """flyctl deploy --wait-timeout."""
    health_timeout_seconds: int = Field(default=300, ge=10, le=3600)
    """How long `up` waits for the checks to pass after a deploy or start."""
    restart: FlyRestart = FlyRestart()
    """The [[restart]] policy."""
    internal_port: int = Field(default=8080, ge=1, le=65535)
    """Port of the agent's HTTP server."""
    health_check_path: str = Field(default="/health", pattern=r"^/[A-Za-z0-9/_.-]*$")
    """Health endpoint, checked inside the sandbox."""

    @field_validator("app")
    @classmethod
    def _fly_app_name(cls, app: str) -> str:
        if not FLY_APP_PATTERN.match(app) or "--" in app:
            raise ValueError(
                _one_of(
                    app, "3-63 lowercase letters, digits and single dashes, starting with a letter"
                )
            )
        return app

    @field_validator("region")
    @classmethod
    def _fly_region(cls, region: str) -> str:
        if region not in FLY_REGIONS:
            raise ValueError(_one_of(region, ", ".join(FLY_REGIONS)))
        return region

    @field_validator("vm_size")
    @classmethod
    def _fly_vm_size(cls, size: str) -> str:
        if size not in FLY_VM_SIZES:
            raise ValueError(_one_of(size, ", ".join(FLY_VM_SIZES)))
        return size

    @field_validator("memory_mb")
    @classmethod
    def _memory_step(cls, memory_mb: int) -> int:
        if memory_mb % 256:
            raise ValueError(f"memory {memory_mb} MB is not allowed; allowed: multiples of 256")
        return memory_mb


class _SandboxBase(_Model):
    name: str
    """Sandbox name: names every resource of the sandbox (2-32 of a-z 0-9 -)."""
    agent_type: Literal["ops_agent", "dev_agent", "pm_agent"]
    """Which agent runs here."""
    image: str
    """Container image, pinned by digest (repository@sha256:...)."""
    running: bool = True
    """false stops the sandbox (Fargate: desiredCount 0; Fly: 0 machines) without deleting it."""
    environment: dict[str, str] = {}
    """Plain environment variables; never secrets."""
    command: tuple[str, ...] = ("python", "mcp_client.py")
    """The agent's command (the seed image's CMD); the launcher execs it once hardened."""
    secrets: tuple[SecretRef, ...] = ()
    """Secrets, by reference; values never enter the stack config in plain text."""
    hardening: Hardening = Hardening()
    """Runtime controls; every default is the runbook's value."""

    @field_validator("name")
    @classmethod
    def _sandbox_name(cls, name: str) -> str:
        if not SANDBOX_NAME_PATTERN.match(name) or "--" in name:
            raise ValueError(
                _one_of(
                    name,
                    "2-32 lowercase letters, digits and single dashes, starting with a letter "
                    "and ending with a letter or digit (valid for AWS and Fly)",
                )
            )
        return name

    @field_validator("image")
    @classmethod
    def _image_pinned_by_digest(cls, image: str) -> str:
        if not DIGEST_PINNED_IMAGE.match(image):
            raise ValueError(
                _one_of(image, "an image pinned by digest, 'repository@sha256:<64 hex digits>'")
            )
        return image

    @field_validator("command")
    @classmethod
    def _command_words(cls, command: tuple[str, ...]) -> tuple[str, ...]:
        if not command or any(not word or "\x00" in word for word in command):
            raise ValueError(_one_of(list(command), "a non-empty list of non-empty words"))
        return command

    @field_validator("environment")
    @classmethod
    def _environment_names(cls, environment: dict[str, str]) -> dict[str, str]:
        for name in environment:
            if not ENV_NAME_PATTERN.match(name):
                raise ValueError(_one_of(name, "an environment variable name like AGENT_TYPE"))
        return environment

    @model_validator(mode="after")
    def _secret_names_distinct(self) -> _SandboxBase:
        names = [secret.name for secret in self.secrets]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"secret {duplicated[0]!r} is declared twice; allowed: once")
        clash = sorted(set(names) & set(self.environment))
        if clash:
            raise ValueError(
                f"{clash[0]!r} is both a secret and an environment variable; allowed: one of them"
            )
        return self


class FargateSandbox(_SandboxBase):
    """A sandbox that runs as an ECS service on Fargate."""

    platform: Literal["fargate"]
    """fargate or fly."""
    fargate: FargateSettings = FargateSettings()
    """Fargate size and service settings."""

    @model_validator(mode="after")
    def _fargate_secret_sources(self) -> FargateSandbox:
        for secret in self.secrets:
            if secret.config_key is not None:
                raise ValueError(
                    f"secret {secret.name!r} uses 'configKey', which is for Fly; allowed on "
                    "Fargate: 'ssmParameter' or 'secretsManagerArn'"
                )
        return self


class FlySandbox(_SandboxBase):
    """A persistent sandbox on one Fly Machine, driven through flyctl."""

    platform: Literal["fly"]
    """fargate or fly."""
    fly: FlySettings
    """Fly app, Machine, volume and deploy settings."""

    @model_validator(mode="after")
    def _fly_secret_sources(self) -> FlySandbox:
        for secret in self.secrets:
            if secret.config_key is None:
                raise ValueError(
                    f"secret {secret.name!r} must use 'configKey' on Fly (a Pulumi secret "
                    "config key of this stack)"
                )
        return self


Sandbox = Annotated[FargateSandbox | FlySandbox, Field(discriminator="platform")]


class StackConfig(_Model):
    """Everything one stack declares."""

    # Top-level keys a stack file may set besides these: each sandbox's secret configKeys.
    SECRET_KEY_FIELDS: ClassVar[tuple[str, ...]] = ("flyApiToken",)

    sandboxes: tuple[Sandbox, ...] = Field(min_length=1)
    """The sandboxes of this stack."""
    egress: tuple[EgressRule, ...] = Field(min_length=1)
    """The egress allowlist, shared by every sandbox."""
    network: NetworkConfig | None = None
    """The VPC for Fargate sandboxes: mode create or existing."""
    tags: dict[str, str] = {}
    """Tags on every AWS resource."""
    monthly_budget_usd: float = Field(gt=0, le=1_000_000)
    """Monthly budget, USD; the policy pack compares the estimated cost with it."""
    fly_api_token: str | None = Field(default=None, exclude=True, repr=False)
    """Fly API token, as a secret; FLY_API_TOKEN from the environment otherwise."""

    @field_validator("tags")
    @classmethod
    def _tag_keys(cls, tags: dict[str, str]) -> dict[str, str]:
        for key, value in tags.items():
            if not TAG_KEY_PATTERN.match(key) or key.startswith("aws:"):
                raise ValueError(_one_of(key, "a tag key of 1-128 characters not starting aws:"))
            if len(value) > 256:
                raise ValueError(f"tag {key!r} value is longer than 256; allowed: 0-256 characters")
        return tags

    @model_validator(mode="after")
    def _stack_rules(self) -> StackConfig:
        seen_names: set[str] = set()
        seen_apps: set[str] = set()
        for index, sandbox in enumerate(self.sandboxes):
            if sandbox.name in seen_names:
                raise ValueError(
                    f"@sandboxes[{index}].name: {sandbox.name!r} is already used by another "
                    "sandbox; allowed: a unique name"
                )
            seen_names.add(sandbox.name)
            if isinstance(sandbox, FlySandbox):
                if sandbox.fly.app in seen_apps:
                    raise ValueError(
                        f"@sandboxes[{index}].fly.app: {sandbox.fly.app!r} is already used by "
                        "another sandbox; allowed: one sandbox per Fly app"
                    )
                seen_apps.add(sandbox.fly.app)
        if self.fargate_sandboxes and self.network is None:
            raise ValueError(
                "'network' is required when a sandbox runs on Fargate; allowed: "
                "{mode: create, ...} or {mode: existing, ...}"
            )
        return self

    @property
    def fargate_sandboxes(self) -> tuple[FargateSandbox, ...]:
        return tuple(s for s in self.sandboxes if isinstance(s, FargateSandbox))

    @property
    def fly_sandboxes(self) -> tuple[FlySandbox, ...]:
        return tuple(s for s in self.sandboxes if isinstance(s, FlySandbox))


# --------------------------------------------------------------------------- loading


def _format_location(location: tuple[int | str, ...]) -> str:
    key = PROJECT
    for index, part in enumerate(location):
        if isinstance(part, int):
            key += f"[{part}]"
        elif (
            part in ("fargate", "fly", "create", "existing")
            and index > 0
            and _is_tag(location, index)
        ):
            continue  # the discriminated-union tag pydantic inserts; not a key the user wrote
        else:
            key += (":" if index == 0 else ".") + str(part)
    return key


def _is_tag(location: tuple[int | str, ...], index: int) -> bool:
    previous = location[index - 1]
    return isinstance(previous, int) or previous == "network"


def format_validation_error(error: ValidationError) -> str:
    """One line per problem: ``<key>: <bad value> ... allowed: ...``."""
    lines = []
    for problem in error.errors(include_url=False):
        key = _format_location(tuple(problem["loc"]))
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] in ("union_tag_invalid", "union_tag_not_found"):
            context = problem.get("ctx", {})
            tag = context.get("discriminator", "").strip("'")
            found = context.get("tag", problem.get("input"))
            expected = context.get("expected_tags", "")
            key = f"{key}.{tag}"
            message = f"{found!r} is not allowed; allowed: {expected}"
        elif problem["type"] == "literal_error":
            expected = problem.get("ctx", {}).get("expected", "")
            message = f"{problem.get('input')!r} is not allowed; allowed: {expected}"
        elif problem["type"] == "missing":
            message = "is required"
        elif message.startswith("@"):
            # A model-level check names the sub-key it is about: "@memory: ...".
            subkey, _, message = message[1:].partition(": ")
            key += subkey if subkey.startswith("[") else f"{'.' if key != PROJECT else ':'}{subkey}"
        elif "allowed" not in message and "input" in problem:
            message = f"{problem['input']!r} is not allowed: {message}"
        lines.append(f"{key}: {message}")
    return "\n".join(lines)


def parse_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate a stack's config, given as the ``agent-sandbox:``-less keys and their values.

    Raises ConfigError naming every bad key; never returns a partly valid config.
    """
    secret_keys = referenced_secret_keys(raw.get("sandboxes"))
    allowed = {
        field.alias or name for name, field in StackConfig.model_fields.items()
    } | secret_keys
    unknown = sorted(key for key in raw if key not in allowed)
    if unknown:
        raise ConfigError(
            f"{PROJECT}:{unknown[0]}: unknown config key; allowed keys: "
            f"{', '.join(sorted(allowed))} (and each sandbox's secret configKey)"
        )
    model_input = {key: value for key, value in raw.items() if key not in secret_keys}
    try:
        return StackConfig.model_validate(model_input)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error)) from None


def referenced_secret_keys(sandboxes: object) -> set[str]:
    """The config keys that hold Fly sandboxes' secret values (``secrets[].configKey``)."""
    keys: set[str] = set()
    if isinstance(sandboxes, list):
        for sandbox in sandboxes:
            for secret in (sandbox or {}).get("secrets", []) if isinstance(sandbox, dict) else []:
                if isinstance(secret, dict) and isinstance(secret.get("configKey"), str):
                    keys.add(secret["configKey"])
    return keys


def read_raw_config(values: Mapping[str, str]) -> dict[str, Any]:
    """Turn the engine's ``project:key`` -> string map into this project's keys and values.

    Structured values arrive JSON-encoded, exactly as ``pulumi.Config.get_object`` reads them.
    """
    prefix = f"{PROJECT}:"
    raw: dict[str, Any] = {}
    for full_key, text in values.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        try:
            raw[key] = json.loads(text)
        except (TypeError, json.JSONDecodeError):
            raw[key] = text
    return raw
