"""A reader and interpreter for the classic-BPF seccomp programs libseccomp exports.

It lets the IaC (and the tests) check a compiled program for an architecture this machine is
not, by running it on a seccomp_data record instead of loading it into a kernel: a filter for
aarch64 built on an x86_64 laptop is still checked before it ships.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_DATA = 0x0000FFFF
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
BPF_MAXINSNS = 4096

# Only the opcodes a seccomp filter may use (kernel seccomp_check_filter) are interpreted.
_LD_W_ABS, _LD_IMM, _LDX_IMM, _LD_MEM, _LDX_MEM = 0x20, 0x00, 0x01, 0x60, 0x61
_ST, _STX, _TAX, _TXA = 0x02, 0x03, 0x07, 0x87
_RET_K, _RET_A = 0x06, 0x16
_JMP_JA = 0x05
_JUMPS = {
    0x15: "eq",
    0x25: "gt",
    0x35: "ge",
    0x45: "set",
    0x1D: "eqx",
    0x2D: "gtx",
    0x3D: "gex",
    0x4D: "setx",
}
_ALU = {
    0x04: "add",
    0x14: "sub",
    0x24: "mul",
    0x34: "div",
    0x44: "or",
    0x54: "and",
    0x64: "lsh",
    0x74: "rsh",
    0x84: "neg",
    0x94: "mod",
    0xA4: "xor",
}
_MASK32 = 0xFFFFFFFF


class BpfError(ValueError):
    """The bytes are not a seccomp program this interpreter (or the kernel) would run."""


@dataclass(frozen=True)
class Instruction:
    code: int
    jt: int
    jf: int
    k: int


@lru_cache(maxsize=16)
def decode(program: bytes) -> tuple[Instruction, ...]:
    """Split the bytes into struct sock_filter records (host byte order, as the kernel reads)."""
    if not program or len(program) % 8:
        raise BpfError(f"{len(program)} bytes is not a whole number of 8-byte instructions")
    if len(program) // 8 > BPF_MAXINSNS:
        raise BpfError(f"{len(program) // 8} instructions; the kernel allows {BPF_MAXINSNS}")
    return tuple(Instruction(*fields) for fields in struct.iter_unpack("=HBBI", program))


def seccomp_data(nr: int, arch: int, args: Sequence[int] = (), ip: int = 0) -> bytes:
    """struct seccomp_data as little-endian (both supported architectures are)."""
    padded = [*args, *[0] * (6 - len(args))]
    return struct.pack("<iIQ6Q", nr, arch, ip, *padded)


def _alu(op: str, a: int, operand: int) -> int:
    results = {
        "add": lambda: a + operand,
        "sub": lambda: a - operand,
        "mul": lambda: a * operand,
        "div": lambda: a // operand if operand else 0,
        "mod": lambda: a % operand if operand else 0,
        "or": lambda: a | operand,
        "and": lambda: a & operand,
        "xor": lambda: a ^ operand,
        "lsh": lambda: a << (operand & 31),
        "rsh": lambda: a >> (operand & 31),
        "neg": lambda: -a,
    }
    return results[op]() & _MASK32


def run(program: bytes, nr: int, arch: int, args: Sequence[int] = ()) -> int:  # noqa: PLR0912
    """The 32-bit return value the kernel would act on for this syscall."""
    instructions = decode(program)
    data = seccomp_data(nr, arch, args)
    a = x = 0
    memory = [0] * 16
    pc = 0
    while pc < len(instructions):
        ins = instructions[pc]
        pc += 1
        code = ins.code
        if code == _LD_W_ABS:
            if ins.k % 4 or ins.k + 4 > len(data):
                raise BpfError(f"load from offset {ins.k} outside seccomp_data")
            a = struct.unpack_from("<I", data, ins.k)[0]
        elif code == _LD_IMM:
            a = ins.k
        elif code == _LDX_IMM:
            x = ins.k
        elif code == _LD_MEM:
            a = memory[ins.k]
        elif code == _LDX_MEM:
            x = memory[ins.k]
        elif code == _ST:
            memory[ins.k] = a
        elif code == _STX:
            memory[ins.k] = x
        elif code == _TAX:
            x = a
        elif code == _TXA:
            a = x
        elif code == _RET_K:
            return ins.k
        elif code == _RET_A:
            return a
        elif code == _JMP_JA:
            pc += ins.k
        elif code in _JUMPS:
            kind = _JUMPS[code]
            operand = x if kind.endswith("x") else ins.k
            taken = {
                "eq": a == operand,
                "gt": a > operand,
                "ge": a >= operand,
                "set": bool(a & operand),
            }[kind.rstrip("x")]
            pc += ins.jt if taken else ins.jf
        elif code in _ALU or code - 0x08 in _ALU:
            op = _ALU[code] if code in _ALU else _ALU[code - 0x08]
            a = _alu(op, a, ins.k if code in _ALU else x)
        else:
            raise BpfError(f"opcode {code:#x} at {pc - 1} is not allowed in a seccomp filter")
    raise BpfError("the program runs off its end without returning")


def action(ret: int) -> tuple[int, int]:
    """(action, data): e.g. (SECCOMP_RET_ERRNO, 1) for EPERM."""
    return ret & SECCOMP_RET_ACTION_FULL, ret & SECCOMP_RET_DATA
