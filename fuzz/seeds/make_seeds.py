#!/usr/bin/env python3
"""Writes the fuzzers' seed inputs: a small GGUF with every metadata type and two tensors, and a
small safetensors file. Re-run after changing them: python3 fuzz/seeds/make_seeds.py"""
import json, os, struct

here = os.path.dirname(os.path.abspath(__file__))

def s(text):
    b = text.encode()
    return struct.pack('<Q', len(b)) + b

kv = [
    (s('general.architecture') + struct.pack('<I', 8) + s('seed')),
    (s('u8') + struct.pack('<IB', 0, 7)), (s('i16') + struct.pack('<Ih', 3, -5)),
    (s('u32') + struct.pack('<II', 4, 9)), (s('f32') + struct.pack('<If', 6, 1.5)),
    (s('bool') + struct.pack('<IB', 7, 1)), (s('u64') + struct.pack('<IQ', 10, 1 << 40)),
    (s('f64') + struct.pack('<Id', 12, 0.25)),
    (s('tokens') + struct.pack('<IIQ', 9, 8, 2) + s('<bos>') + s('hi')),
    (s('nested') + struct.pack('<IIQ', 9, 9, 1) + struct.pack('<IQ', 5, 2) + struct.pack('<ii', 1, 2)),
]
tensors = [(s('a') + struct.pack('<IQQ', 2, 4, 2) + struct.pack('<IQ', 0, 0)),
           (s('q') + struct.pack('<IQ', 1, 32) + struct.pack('<IQ', 8, 32))]
header = b'GGUF' + struct.pack('<IQQ', 3, len(tensors), len(kv)) + b''.join(kv) + b''.join(tensors)
header += b'\0' * (-len(header) % 32)
data = struct.pack('<8f', *range(8)) + struct.pack('<e', 0.5) + bytes(range(32))
with open(os.path.join(here, 'gguf', 'small.gguf'), 'wb') as f:
    f.write(header + data)

meta = {'__metadata__': {'format': 'pt'},
        'w': {'dtype': 'BF16', 'shape': [2, 2], 'data_offsets': [0, 8]},
        'b': {'dtype': 'F32', 'shape': [1], 'data_offsets': [8, 12]}}
h = json.dumps(meta).encode()
with open(os.path.join(here, 'safetensors', 'small.safetensors'), 'wb') as f:
    f.write(struct.pack('<Q', len(h)) + h + bytes(12))
