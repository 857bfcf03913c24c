"""The policy pack's entry point: the Pulumi CLI runs it as `python -m pulumi.policy`."""

from pulumi_policy import PolicyPack

from sandbox_policies.pack import PACK_LEVEL, PACK_NAME, build_policies
from sandbox_policies.waivers import enforce_waiver_reasons

with enforce_waiver_reasons():
    PolicyPack(name=PACK_NAME, policies=build_policies(), enforcement_level=PACK_LEVEL)
