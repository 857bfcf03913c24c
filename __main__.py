"""agent-sandbox: reads the stack config, composes the components, exports what operators need."""

import pulumi

from components.program import build_stack
from components.stack_config import load_stack_config

stack = build_stack(load_stack_config())
for name, value in stack.outputs().items():
    pulumi.export(name, value)
