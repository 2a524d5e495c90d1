"""Reads analyst views through clickhouse-connect, the official Python client, as an analyst would.

Run by test/integration/analytics-exact.test.ts as `python clickhouse_connect_views.py <port> <database>`
with a JSON object {name: sql} on stdin; prints {name: rows}, each row an object by column name.
Values are written as the client returns them, in JSON: Decimals and dates as text.
"""

import json
import sys

import clickhouse_connect

port, database = int(sys.argv[1]), sys.argv[2]
queries = json.load(sys.stdin)
# The client's defaults: Native answers in its protocol revision, compressed.
client = clickhouse_connect.get_client(host='127.0.0.1', port=port, username='analyst', password='', database=database)
rows = {}
for name, sql in queries.items():
    result = client.query(sql)
    rows[name] = [dict(zip(result.column_names, row)) for row in result.result_rows]
print(json.dumps(rows, default=str))
