// A manual check, not a test (npm test needs no Go): clickhouse-go, the driver under Grafana's
// ClickHouse plugin, in HTTP mode with gzip against ClickHouse's HTTP interface (the worker's, on
// CLICKHOUSE_HTTP_PORT, or the chDB front's). It reads Native in its protocol revision
// (client_protocol_version=54460) over many types and two blocks, then a JSON column, which the
// interface refuses (code 48). Run it with Go installed:
//
//	cd test/clients/clickhouse-go && go run . 127.0.0.1:8123
//
// clickhouse-go also sends max_execution_time (a context's deadline + 5 s, truncated: 34 at connect
// with its 30 s dial timeout, 64 here), which the analysts' interface takes: it stops a query at the
// smaller of that and its own limit.
package main

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

const typesQuery = `
WITH typed AS (
    SELECT
        number AS n,
        ['', concat('tab\t "q" \'s\' back\\slash\nline', repeat('é', 100)), '😀 nul'][number + 1] AS s,
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
        CAST(['a', 'b', 'a'][number + 1], 'Enum8(\'a\' = 1, \'b\' = 2)') AS e,
        toIPv4('10.0.0.1') AS ip4,
        toIPv6('::1') AS ip6,
        CAST(number % 2, 'Bool') AS b,
        toDate('2024-01-01') + number AS dt,
        toInt128(number) - 5 AS i128
    FROM numbers(3)
)
SELECT * FROM typed WHERE n < ?
UNION ALL
SELECT * FROM typed WHERE n = 2
ORDER BY n`

func main() {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{os.Args[1]},
		Auth:        clickhouse.Auth{Database: "sluice", Username: "analyst"},
		Protocol:    clickhouse.HTTP,
		Compression: &clickhouse.Compression{Method: clickhouse.CompressionGZIP},
		ReadTimeout: 60 * time.Second,
	})
	if err != nil {
		fmt.Println("open:", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		fmt.Println("ping:", err)
	}
	version, err := conn.ServerVersion()
	fmt.Println("server:", version, err)
	rows, err := conn.Query(ctx, typesQuery, 2)
	if err != nil {
		fmt.Println("query:", err)
		return
	}
	types := rows.ColumnTypes()
	for _, column := range types {
		fmt.Printf("%s %s | ", column.Name(), column.DatabaseTypeName())
	}
	fmt.Println()
	for rows.Next() {
		values := make([]any, len(types))
		for i, column := range types {
			values[i] = reflect.New(column.ScanType()).Interface()
		}
		if err := rows.Scan(values...); err != nil {
			fmt.Println("scan:", err)
			return
		}
		for i := range values {
			fmt.Printf("%s | ", show(reflect.ValueOf(values[i]).Elem()))
		}
		fmt.Println()
	}
	fmt.Println("rows err:", rows.Err())
	var json string
	err = conn.QueryRow(ctx, `SELECT '{"a":1}'::JSON AS j`).Scan(&json)
	fmt.Println("JSON column:", err)
}

// show prints a scanned value with its pointers (Nullable) followed, and as its String() when it
// has one (IP addresses, big integers, decimals, times).
func show(value reflect.Value) string {
	if value.Kind() != reflect.Pointer {
		if stringer, ok := value.Interface().(fmt.Stringer); ok {
			return stringer.String()
		}
		if value.CanAddr() {
			if stringer, ok := value.Addr().Interface().(fmt.Stringer); ok {
				return stringer.String()
			}
		}
	}
	switch value.Kind() {
	case reflect.Pointer:
		if value.IsNil() {
			return "NULL"
		}
		return show(value.Elem())
	case reflect.Slice:
		if value.Type().Elem().Kind() == reflect.Uint8 {
			return fmt.Sprintf("%q", value.Bytes())
		}
		items := make([]string, value.Len())
		for i := range items {
			items[i] = show(value.Index(i))
		}
		return fmt.Sprintf("%v", items)
	case reflect.String:
		return fmt.Sprintf("%q", value.String())
	default:
		return fmt.Sprintf("%v", value.Interface())
	}
}
