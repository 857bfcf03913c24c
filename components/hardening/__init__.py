"""The runtime hardening model, the launcher spec made from it, and how each platform gets it."""

from components.hardening.delivery import (
    FLY_LAUNCHER_PATH,
    FLY_SPEC_PATH,
    SPEC_ENV,
    DeliveryError,
    FlyLauncherDelivery,
    LauncherDelivery,
    bootstrap_code,
    encode_spec,
    fargate_delivery,
    fly_delivery,
    launcher_source,
)
from components.hardening.model import (
    HardeningModel,
    HardeningModelError,
    Platform,
    Rlimit,
    TmpMount,
)
from components.hardening.spec import SPEC_VERSION, to_launcher_spec

__all__ = [
    "FLY_LAUNCHER_PATH",
    "FLY_SPEC_PATH",
    "SPEC_ENV",
    "SPEC_VERSION",
    "DeliveryError",
    "FlyLauncherDelivery",
    "HardeningModel",
    "HardeningModelError",
    "LauncherDelivery",
    "Platform",
    "Rlimit",
    "TmpMount",
    "bootstrap_code",
    "encode_spec",
    "fargate_delivery",
    "fly_delivery",
    "launcher_source",
    "to_launcher_spec",
]
