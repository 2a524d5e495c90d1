/*
 * The ClickHouse JDBC driver (com.clickhouse:clickhouse-jdbc, fetched by pom.xml beside this file)
 * against the worker's ClickHouse HTTP interface, as an analyst's Java program or DBeaver uses it.
 *
 * Run by test/integration/analyst-jdbc.test.ts as a single-file program:
 *   java -cp '<jars>/*' JdbcCheck.java <port>
 * It prints one JSON object as its last line, which the test asserts on; the test also records
 * every HTTP request the driver makes (through a proxy on <port>).
 *
 * test/integration/analytics-exact.test.ts runs it as
 *   java -cp '<jars>/*' JdbcCheck.java views <port> <database> <name> <sql> [<name> <sql> ...]
 * to read the analyst views as a JDBC tool does; it prints {name: rows}, each row an object by
 * column label, decimals and dates as text.
 *
 * The driver runs with its defaults: it asks for answers in ClickHouse's own LZ4 blocks (compress=1)
 * and checks their CityHash checksums. One connection asks for gzip instead (an HTTP header).
 */
import com.clickhouse.client.api.Client;
import com.clickhouse.client.api.data_formats.ClickHouseBinaryFormatReader;
import com.clickhouse.client.api.query.QueryResponse;
import com.clickhouse.client.api.query.QuerySettings;
import com.clickhouse.data.ClickHouseFormat;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

public class JdbcCheck {
    /** Tab, backslash, quote, a text that reads as NULL in TabSeparated, and non-ASCII. */
    static final String AWKWARD = "it's\ta \\ test \\N é \"q\"";

    public static void main(String[] args) throws Exception {
        // Before any driver class loads: its warnings reach stderr, its debug chatter does not.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        if (args[0].equals("views")) {
            System.out.println(json(views(Integer.parseInt(args[1]), args[2], Arrays.copyOfRange(args, 3, args.length))));
            return;
        }
        int port = Integer.parseInt(args[0]);
        String url = "jdbc:clickhouse://127.0.0.1:" + port + "/sluice";
        Map<String, Object> summary = new LinkedHashMap<>();
        try (Connection connection = DriverManager.getConnection(url, analyst())) {
            summary.put("server_version", connection.getMetaData().getDatabaseProductVersion());
            summary.put("prepared", prepared(connection));
            summary.put("metadata", metadata(connection.getMetaData()));
            int rejectedBefore = count(connection, "SELECT count() FROM events_rejected");
            summary.put("insert_error", refusal(() -> {
                try (PreparedStatement insert = connection.prepareStatement("INSERT INTO events_rejected (reason) VALUES (?)")) {
                    insert.setString(1, "x");
                    insert.executeUpdate();
                }
            }));
            summary.put("create_error", refusal(() -> {
                try (Statement statement = connection.createStatement()) {
                    statement.execute("CREATE TABLE sneaky (a UInt8) ENGINE = Memory");
                }
            }));
            summary.put("rejected_rows_added", count(connection, "SELECT count() FROM events_rejected") - rejectedBefore);
            summary.put("tables_after", count(connection, "SELECT count() FROM system.tables WHERE database = 'sluice' AND name IN ('sneaky', 'events')"));
        }
        summary.put("gzip_sum", gzipped(url));
        summary.putAll(clientV2(port));
        summary.put("documented_output", captured(() -> documented(port)));
        System.out.println(json(summary));
    }

    /** User analyst, no password, everything else the driver's defaults. */
    static Properties analyst() {
        Properties properties = new Properties();
        properties.setProperty("user", "analyst");
        properties.setProperty("password", "");
        return properties;
    }

    /** Each named query's rows through JDBC's ResultSet, as a BI tool reads them. */
    static Map<String, Object> views(int port, String database, String[] namedQueries) throws SQLException {
        Map<String, Object> result = new LinkedHashMap<>();
        try (Connection connection = DriverManager.getConnection("jdbc:clickhouse://127.0.0.1:" + port + "/" + database, analyst())) {
            for (int i = 0; i + 1 < namedQueries.length; i += 2) {
                List<Object> rows = new ArrayList<>();
                try (Statement statement = connection.createStatement(); ResultSet resultSet = statement.executeQuery(namedQueries[i + 1])) {
                    ResultSetMetaData columns = resultSet.getMetaData();
                    while (resultSet.next()) {
                        Map<String, Object> row = new LinkedHashMap<>();
                        for (int column = 1; column <= columns.getColumnCount(); column++) {
                            Object value = resultSet.getObject(column);
                            // Exact decimals as text; dates and other objects as their text too.
                            if (value instanceof java.math.BigDecimal decimal) value = decimal.toPlainString();
                            else if (value != null && !(value instanceof Number)) value = value.toString();
                            row.put(columns.getColumnLabel(column), value);
                        }
                        rows.add(row);
                    }
                }
                result.put(namedQueries[i], rows);
            }
        }
        return result;
    }

    /** A PreparedStatement's `?` values, read back with their columns' names and types. */
    static Map<String, Object> prepared(Connection connection) throws SQLException {
        Map<String, Object> result = new LinkedHashMap<>();
        try (PreparedStatement statement = connection.prepareStatement("SELECT ? AS n, ? AS s, ? AS missing, currentDatabase() AS db")) {
            statement.setInt(1, 41);
            statement.setString(2, AWKWARD);
            statement.setNull(3, java.sql.Types.VARCHAR);
            try (ResultSet rows = statement.executeQuery()) {
                ResultSetMetaData meta = rows.getMetaData();
                List<String> columns = new ArrayList<>();
                for (int i = 1; i <= meta.getColumnCount(); i++) columns.add(meta.getColumnName(i));
                result.put("columns", columns);
                List<List<Object>> values = new ArrayList<>();
                while (rows.next()) values.add(Arrays.asList(rows.getInt("n") + 1, rows.getString("s"), rows.getString("missing"), rows.getString("db")));
                result.put("rows", values);
            }
        }
        result.put("sent_text", AWKWARD);
        return result;
    }

    /** What DBeaver's navigator reads: the views of database sluice and one view's columns. */
    static Map<String, Object> metadata(DatabaseMetaData meta) throws SQLException {
        Map<String, Object> result = new LinkedHashMap<>();
        List<String> views = new ArrayList<>();
        try (ResultSet rows = meta.getTables(null, "sluice", "%", new String[] {"VIEW"})) {
            while (rows.next()) views.add(rows.getString("TABLE_NAME"));
        }
        result.put("views", views);
        List<String> columns = new ArrayList<>();
        try (ResultSet rows = meta.getColumns(null, "sluice", "ctr_daily", "%")) {
            while (rows.next()) columns.add(rows.getString("COLUMN_NAME") + " " + rows.getString("TYPE_NAME"));
        }
        result.put("ctr_daily_columns", columns);
        return result;
    }

    /** A JDBC connection that asks for gzip answers, reading a result large enough to be worth it. */
    static long gzipped(String url) throws SQLException {
        Properties properties = analyst();
        // The driver's http_header_<name> property; it decodes the answer by its Content-Encoding.
        properties.setProperty("http_header_Accept-Encoding", "gzip");
        // gzip instead of its LZ4 blocks: given both, the driver undoes the gzip and reads the blocks
        // as rows (a server layers them the same way, when its profile enables HTTP compression).
        properties.setProperty("compress", "false");
        try (Connection connection = DriverManager.getConnection(url, properties);
             Statement statement = connection.createStatement();
             ResultSet rows = statement.executeQuery("SELECT number, toString(number) AS text FROM numbers(10000)")) {
            long sum = 0;
            while (rows.next()) sum += rows.getLong(1) + Long.parseLong(rows.getString(2));
            return sum;
        }
    }

    /**
     * Native and JSONEachRow through client-v2, the API the driver is built on (its jar comes with
     * the driver): JDBC itself reads RowBinaryWithNamesAndTypes only. Query parameters here travel as
     * param_<name>, where JDBC's `?` are written into the SQL by the driver. client-v2 sends a value
     * as it is given, and ClickHouse reads param_ values in its Escaped format, so the tab and the
     * backslashes are escaped here, as for a server.
     */
    static Map<String, Object> clientV2(int port) throws Exception {
        Map<String, Object> result = new LinkedHashMap<>();
        try (Client client = new Client.Builder().addEndpoint("http://127.0.0.1:" + port).setUsername("analyst").setPassword("").setDefaultDatabase("sluice").build()) {
            Map<String, Object> native_ = new LinkedHashMap<>();
            QuerySettings nativeFormat = new QuerySettings().setFormat(ClickHouseFormat.Native);
            try (QueryResponse response = client.query("SELECT {n:UInt32} + number AS n, {s:String} AS s FROM numbers(2)", Map.of("n", 5, "s", escaped(AWKWARD)), nativeFormat).get(30, TimeUnit.SECONDS)) {
                ClickHouseBinaryFormatReader reader = client.newBinaryFormatReader(response);
                native_.put("reader", reader.getClass().getSimpleName());
                List<List<Object>> rows = new ArrayList<>();
                while (reader.hasNext()) {
                    reader.next();
                    rows.add(List.of(reader.getLong("n"), reader.getString("s")));
                }
                native_.put("rows", rows);
                native_.put("format_header", response.getResponseHeaders().get("X-ClickHouse-Format"));
            }
            result.put("native", native_);
            QuerySettings jsonFormat = new QuerySettings().setFormat(ClickHouseFormat.JSONEachRow);
            try (QueryResponse response = client.query("SELECT number AS n, currentDatabase() AS db FROM numbers(2)", jsonFormat).get(30, TimeUnit.SECONDS)) {
                result.put("json_each_row", new String(response.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            }
        }
        return result;
    }

    static void documented(int port) throws SQLException {
        // The snippet of docs/analysts.md, with the worker's port.
        Properties properties = new Properties();
        properties.setProperty("user", "analyst");
        properties.setProperty("password", "");
        String url = "jdbc:clickhouse://127.0.0.1:" + port + "/sluice";
        try (Connection connection = DriverManager.getConnection(url, properties);
             PreparedStatement statement = connection.prepareStatement("SELECT event_type, count() AS events FROM events WHERE dataset_id = ? GROUP BY event_type")) {
            statement.setString(1, "demo");
            try (ResultSet rows = statement.executeQuery()) {
                while (rows.next()) System.out.println(rows.getString("event_type") + " " + rows.getLong("events"));
            }
        }
    }

    /** A value in ClickHouse's Escaped format (the text of a param_ value over HTTP). */
    static String escaped(String value) {
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n");
    }

    interface SqlCall {
        void run() throws SQLException;
    }

    /** The SQLException a refused call throws: ClickHouse's code (getErrorCode), its SQLState and message. */
    static Map<String, Object> refusal(SqlCall call) {
        try {
            call.run();
            return null;
        } catch (SQLException error) {
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("code", error.getErrorCode());
            result.put("state", error.getSQLState());
            result.put("message", error.getMessage());
            return result;
        }
    }

    static int count(Connection connection, String sql) throws SQLException {
        try (Statement statement = connection.createStatement(); ResultSet rows = statement.executeQuery(sql)) {
            rows.next();
            return rows.getInt(1);
        }
    }

    /** What a call prints on stdout, kept out of the one summary line. */
    static String captured(SqlCall call) throws SQLException {
        PrintStream original = System.out;
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buffer, true, StandardCharsets.UTF_8));
        try {
            call.run();
        } finally {
            System.setOut(original);
        }
        return buffer.toString(StandardCharsets.UTF_8);
    }

    /** JSON for the summary's maps, lists, strings, numbers and nulls (the driver bundles no JSON library). */
    static String json(Object value) {
        if (value == null) return "null";
        if (value instanceof Number || value instanceof Boolean) return value.toString();
        if (value instanceof Map<?, ?> map) {
            List<String> members = new ArrayList<>();
            map.forEach((key, member) -> members.add(json(String.valueOf(key)) + ":" + json(member)));
            return "{" + String.join(",", members) + "}";
        }
        if (value instanceof List<?> list) {
            List<String> items = new ArrayList<>();
            list.forEach((item) -> items.add(json(item)));
            return "[" + String.join(",", items) + "]";
        }
        StringBuilder text = new StringBuilder("\"");
        for (char c : value.toString().toCharArray()) {
            if (c == '"' || c == '\\') text.append('\\').append(c);
            // Non-ASCII escaped too: the summary is the same bytes whatever the machine's charset.
            else if (c < 0x20 || c > 0x7e) text.append(String.format("\\u%04x", (int) c));
            else text.append(c);
        }
        return text.append('"').toString();
    }
}
