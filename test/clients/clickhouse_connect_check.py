"""clickhouse-connect, the official Python client, against the analysts' ClickHouse HTTP interface (the worker's, or user analyst of the chDB front).

Run by test/integration/analyst-python.test.ts as `python clickhouse_connect_check.py <port>`; prints
one JSON object the test asserts on. Every request the client makes is recorded (URL parameter
names, status, Content-Encoding of the answer), so the test sees what the client sent.
"""

import json
import re
import sys
from urllib.parse import parse_qsl, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError
from urllib3 import PoolManager

port = int(sys.argv[1])
requests = []


class RecordingPoolManager(PoolManager):
    """The client's own HTTP pool (its pool_mgr option), noting each exchange."""

    def request(self, method, url, *args, **kwargs):
        response = super().request(method, url, *args, **kwargs)
        names = sorted(name for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True) if name not in ('query_id', 'session_id'))
        requests.append({'parameters': names, 'status': response.status, 'encoding': response.headers.get('Content-Encoding')})
        return response


def error_code(call):
    """The ClickHouse error code of a refused call (clickhouse-connect puts it in the message)."""
    try:
        call()
    except DatabaseError as error:
        return int(re.search(r'code: (\d+)', str(error)).group(1))
    return None


def documented(port):
    # The snippet of docs/analysts.md, with the worker's port.
    client = clickhouse_connect.get_client(host='127.0.0.1', port=port, username='analyst', password='', database='sluice')
    result = client.query('SELECT event_type, count() AS events FROM events WHERE dataset_id = {dataset:String} GROUP BY event_type', parameters={'dataset': 'demo'})
    print(result.result_rows)
    return result.result_rows


def compressed(method):
    """A query's answer and its Content-Encoding when the client is told compress=method."""
    client = clickhouse_connect.get_client(host='127.0.0.1', port=port, username='analyst', password='', database='sluice', compress=method, pool_mgr=RecordingPoolManager())
    result = client.query('SELECT number AS n, repeat(toString(number), 50) AS s FROM numbers(3000)')
    rows = result.result_rows
    return {'encoding': requests[-1]['encoding'], 'rows': len(rows), 'last': list(rows[-1])}


# Rows 0 and 1 in one block, row 2 in another. The long string's length takes two bytes.
TYPES_QUERY = """
WITH typed AS (
    SELECT
        number AS n,
        ['', concat('tab\\t "q" \\'s\\' back\\\\slash\\nline', repeat('é', 100)), '😀 \\0 nul'][number + 1] AS s,
        if(number = 1, NULL, toString(number)) AS ns,
        [toInt32(number), NULL, -7] AS an,
        map('k' || toString(number), range(number)) AS m,
        toLowCardinality(['red', 'green', 'red'][number + 1]) AS lc,
        CAST(if(number = 2, NULL, 'x'), 'LowCardinality(Nullable(String))') AS lcn,
        [toLowCardinality('a'), toLowCardinality(toString(number))] AS alc,
        toDecimal64(number + 0.1234, 4) AS d,
        toDateTime64('2024-02-29 12:34:56.789', 3, 'UTC') + number AS t,
        [toDateTime('2024-01-01 00:00:00', 'Asia/Tokyo')] AS tz,
        toUUID('00112233-4455-6677-8899-aabbccddeeff') AS u,
        CAST((number, 'y'), 'Tuple(a UInt64, b String)') AS nt,
        CAST(['a', 'b', 'a'][number + 1], 'Enum8(\\'a\\' = 1, \\'b\\' = 2)') AS e,
        toIPv4('10.0.0.1') AS ip4,
        toIPv6('::1') AS ip6,
        CAST(number % 2, 'Bool') AS b,
        toDate('2024-01-01') + number AS dt,
        toInt128(number) - 5 AS i128
    FROM numbers(3)
)
SELECT * FROM typed WHERE n < 2
UNION ALL
SELECT * FROM typed WHERE n = 2
"""


def jsonable(value):
    """A value as JSON can carry it: tuples and lists as lists, dicts as dicts, the rest str()."""
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


# The client's defaults: it accepts every encoding it knows (the interface, as ClickHouse, prefers
# zstd) and compresses what it sends with lz4.
client = clickhouse_connect.get_client(host='127.0.0.1', port=port, username='analyst', password='', database='sluice', pool_mgr=RecordingPoolManager())
connected = len(requests)
text = "it's\ta \\ test \\N é"
native = client.query('SELECT {n:UInt32} AS n, {s:String} AS s, currentDatabase() AS db', parameters={'n': 5, 's': text})
native_encoding = requests[-1]['encoding']
json_rows = [json.loads(line) for line in client.raw_query('SELECT number AS n FROM numbers(2)', fmt='JSONEachRow').decode().splitlines()]
# Native in the client's protocol revision, over many types and two blocks (UNION ALL): values come
# out as JSON with str() for what JSON lacks (Decimal, datetime, UUID, IP addresses).
typed = client.query(TYPES_QUERY)
typed_rows = sorted((list(row) for row in typed.result_rows), key=lambda row: row[0])
before_refusals = len(requests)
insert_code = error_code(lambda: client.insert('events_rejected', [['x']], column_names=['reason']))
create_code = error_code(lambda: client.command('CREATE TABLE sneaky (a UInt8) ENGINE = Memory'))
tables = client.query("SELECT count() FROM system.tables WHERE database = 'sluice' AND name IN ('sneaky', 'events')").result_rows
print(json.dumps({
    'server_version': client.server_version,
    'connect_requests': requests[:connected],
    'native': {'columns': list(native.column_names), 'rows': [list(row) for row in native.result_rows], 'sent_text': text, 'encoding': native_encoding},
    'json_each_row': json_rows,
    'protocol_version': client.protocol_version,
    'typed': {'columns': list(typed.column_names), 'types': [column_type.name for column_type in typed.column_types], 'rows': jsonable(typed_rows)},
    'query_requests': requests[connected:before_refusals],
    'insert_code': insert_code,
    'create_code': create_code,
    'tables_after': tables[0][0],
    'write_compression': client.write_compression,
    'compressed': {method: compressed(method) for method in ('lz4', 'zstd', 'gzip')},
    'documented_rows': documented(port),
}))
