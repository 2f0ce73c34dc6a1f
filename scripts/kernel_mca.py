#!/usr/bin/env python3
"""kernel_mca.py FILE.c [gcc flags...] - static throughput of a SIMD kernel's loops.

Compiles FILE.c to assembly with the project's AVX2 flags, takes every
innermost-looking loop (a label and the backward jump to it) that holds at
least 8 vpmaddubsw, and runs llvm-mca (Debian's llvm, which clang pulls in)
on it for Zen 3. Prints per loop: vpmaddubsw count, instructions, stack
references (spills), cycles per iteration and cycles per vpmaddubsw (0.5
is that instruction's own limit on Zen 3). For comparing variants of a
kernel on a host too noisy to time them; llvm-mca's absolute figures run
~10-15% pessimistic against measured GOP/s. Env MCA_CPU picks another
-mcpu (e.g. skylake), MCA_INSN another instruction to count (vpdpbusd).
"""
import os
import re
import subprocess
import sys


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cpu = os.environ.get('MCA_CPU', 'znver3')
    insn = os.environ.get('MCA_INSN', 'vpmaddubsw')
    cmd = ['gcc', '-std=c11', '-D_GNU_SOURCE', '-O2', '-fno-strict-aliasing', '-Isrc', '-I.', '-mavx2', '-mfma',
           '-mf16c', '-S', '-o', '-', sys.argv[1]] + sys.argv[2:]
    lines = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split('\n')
    labels = {}
    for i, l in enumerate(lines):
        m = re.match(r'^(\.L\w+):', l)
        if m:
            labels[m.group(1)] = i
    rows = []
    for i, l in enumerate(lines):
        m = re.match(r'^\s+j\w+\s+(\.L\w+)', l)
        if not m or labels.get(m.group(1), i) >= i:
            continue
        body = [x for x in lines[labels[m.group(1)] + 1:i + 1] if x.startswith('\t') and not x.startswith('\t.')]
        n = sum(insn in x for x in body)
        if n < 8:
            continue
        out = subprocess.run(['llvm-mca', '-mcpu=' + cpu, '-iterations=200'], input='\n'.join(body) + '\n',
                             capture_output=True, text=True).stdout
        t = re.search(r'Total Cycles:\s+(\d+)', out)
        if not t:
            continue
        cyc = int(t.group(1)) / 200
        spills = sum('rsp' in x or 'rbp' in x for x in body)
        rows.append((n, len(body), spills, cyc))
    for n, ln, sp, cyc in sorted(rows):
        print(f'{insn} {n:3d}  insns {ln:4d}  stack-refs {sp:3d}  cycles/iter {cyc:7.1f}  cycles/{insn} {cyc / n:.3f}')


if __name__ == '__main__':
    main()
