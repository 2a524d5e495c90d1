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
    client = clickhouse_connect.get_client(host='127.0.0.1', port=port, username='analyst', password='', database='sluice', compress='gzip')
    result = client.query('SELECT event_type, count() AS events FROM events WHERE dataset_id = {dataset:String} GROUP BY event_type', parameters={'dataset': 'demo'})
    print(result.result_rows)
    return result.result_rows


# lz4, clickhouse-connect's default, is refused by the interface (415): gzip both ways instead.
client = clickhouse_connect.get_client(host='127.0.0.1', port=port, username='analyst', password='', database='sluice', compress='gzip', pool_mgr=RecordingPoolManager())
connected = len(requests)
text = "it's\ta \\ test \\N é"
native = client.query('SELECT {n:UInt32} AS n, {s:String} AS s, currentDatabase() AS db', parameters={'n': 5, 's': text})
native_encoding = requests[-1]['encoding']
json_rows = [json.loads(line) for line in client.raw_query('SELECT number AS n FROM numbers(2)', fmt='JSONEachRow').decode().splitlines()]
before_refusals = len(requests)
insert_code = error_code(lambda: client.insert('events_rejected', [['x']], column_names=['reason']))
create_code = error_code(lambda: client.command('CREATE TABLE sneaky (a UInt8) ENGINE = Memory'))
tables = client.query("SELECT count() FROM system.tables WHERE database = 'sluice' AND name IN ('sneaky', 'events')").result_rows
print(json.dumps({
    'server_version': client.server_version,
    'connect_requests': requests[:connected],
    'native': {'columns': list(native.column_names), 'rows': [list(row) for row in native.result_rows], 'sent_text': text, 'encoding': native_encoding},
    'json_each_row': json_rows,
    'query_requests': requests[connected:before_refusals],
    'insert_code': insert_code,
    'create_code': create_code,
    'tables_after': tables[0][0],
    'documented_rows': documented(port),
}))
