"""The sandbox's seccomp profile: the JSON, its hash, and its compilation to BPF."""

from components.seccomp.compile import ARCHES, Arch, allowed_names, build_filter, compile_bpf
from components.seccomp.profile import (
    PROFILE_NAMES,
    SeccompProfileError,
    load_profile,
    profile_path,
    profile_sha256,
)

__all__ = [
    "ARCHES",
    "PROFILE_NAMES",
    "Arch",
    "SeccompProfileError",
    "allowed_names",
    "build_filter",
    "compile_bpf",
    "load_profile",
    "profile_path",
    "profile_sha256",
]
