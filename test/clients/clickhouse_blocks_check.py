"""ClickHouse's compressed blocks and their CityHash128, written independently of the interface.

Run by test/integration/clickhouse-compression.test.ts with PyPI's clickhouse-cityhash (the C++
CityHash v1.0.2 that clickhouse-driver checks ClickHouse's blocks with) and lz4:

- `hash FILE`: FILE holds inputs, each a 4-byte little-endian length then its bytes; prints each
  input's CityHash128 as 32 hex digits, `first` then `second`.
- `answer URL`: GETs URL (with compress=1), checks every block's checksum, decodes it, prints JSON.
- `body URL QUERY`: POSTs QUERY to URL (with decompress=1) as one LZ4 block, prints the answer.
"""

import json
import struct
import sys
import urllib.request

import lz4.block
from clickhouse_cityhash.cityhash import CityHash128

LZ4 = 0x82


def checksum(data):
    # clickhouse-cityhash returns (first << 64) | second; ClickHouse writes first, then second.
    value = CityHash128(data)
    return struct.pack('<QQ', value >> 64, value & (2**64 - 1))


def read_blocks(data):
    methods, parts, at = [], [], 0
    while at < len(data):
        method, size_with_header, uncompressed = struct.unpack_from('<BII', data, at + 16)
        hashed = data[at + 16:at + 16 + size_with_header]
        if checksum(hashed) != data[at:at + 16]:
            raise SystemExit(f'checksum mismatch in the block at byte {at}')
        if method != LZ4:
            raise SystemExit(f'method 0x{method:02x} where ClickHouse sends LZ4 (0x82)')
        parts.append(lz4.block.decompress(hashed[9:], uncompressed_size=uncompressed))
        methods.append(method)
        at += 16 + size_with_header
    return methods, b''.join(parts)


def block(data):
    compressed = lz4.block.compress(data, store_size=False)
    hashed = struct.pack('<BII', LZ4, 9 + len(compressed), len(data)) + compressed
    return checksum(hashed) + hashed


mode = sys.argv[1]
if mode == 'hash':
    data, at = open(sys.argv[2], 'rb').read(), 0
    while at < len(data):
        (length,) = struct.unpack_from('<I', data, at)
        value = CityHash128(data[at + 4:at + 4 + length])
        print(format(value, '032x'))
        at += 4 + length
elif mode == 'answer':
    methods, text = read_blocks(urllib.request.urlopen(sys.argv[2]).read())
    print(json.dumps({'blocks': len(methods), 'text': text.decode()}))
elif mode == 'body':
    request = urllib.request.Request(sys.argv[2], data=block(sys.argv[3].encode()), method='POST')
    print(urllib.request.urlopen(request).read().decode(), end='')
