// A PgJDBC + HikariCP client configured exactly from the datasource ConfigMap the program emits (the same
// environment variables Spring Boot binds), running prepared statements across the pool through PgBouncer.
// Prints one JSON line: units of work, prepared-statement executions that succeeded, errors, the first one.
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

public class JdbcLoad {
    static String env(String name) {
        String value = System.getenv(name);
        if (value == null) throw new IllegalStateException("missing environment variable " + name);
        return value;
    }

    public static void main(String[] args) throws Exception {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(env("SPRING_DATASOURCE_URL"));
        config.setUsername(env("DB_USERNAME"));
        config.setPassword(env("DB_PASSWORD"));
        config.setMaximumPoolSize(Integer.parseInt(env("SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE")));
        config.setMinimumIdle(Integer.parseInt(env("SPRING_DATASOURCE_HIKARI_MINIMUM_IDLE")));
        config.setConnectionTimeout(Long.parseLong(env("SPRING_DATASOURCE_HIKARI_CONNECTION_TIMEOUT")));
        config.setIdleTimeout(Long.parseLong(env("SPRING_DATASOURCE_HIKARI_IDLE_TIMEOUT")));
        config.setMaxLifetime(Long.parseLong(env("SPRING_DATASOURCE_HIKARI_MAX_LIFETIME")));
        config.setKeepaliveTime(Long.parseLong(env("SPRING_DATASOURCE_HIKARI_KEEPALIVE_TIME")));
        int executions = Integer.parseInt(env("LOAD_EXECUTIONS"));
        int threads = config.getMaximumPoolSize();

        AtomicInteger done = new AtomicInteger();
        AtomicInteger errors = new AtomicInteger();
        AtomicInteger statements = new AtomicInteger();
        AtomicReference<String> firstError = new AtomicReference<>("");
        long start = System.nanoTime();
        try (HikariDataSource pool = new HikariDataSource(config)) {
            try (Connection c = pool.getConnection()) {
                c.createStatement().execute("CREATE TABLE IF NOT EXISTS synergyflow_tasks.jdbc_probe (id int PRIMARY KEY, hits bigint NOT NULL DEFAULT 0)");
                c.createStatement().execute("INSERT INTO synergyflow_tasks.jdbc_probe SELECT g, 0 FROM generate_series(1, 100) g ON CONFLICT DO NOTHING");
            }
            ExecutorService executor = Executors.newFixedThreadPool(threads);
            for (int t = 0; t < threads; t++) {
                executor.submit(() -> {
                    int i;
                    while ((i = done.getAndIncrement()) < executions) {
                        // One borrow per unit of work, as a request handler would: the same SQL text on the same
                        // pooled JDBC connection becomes a named server-side statement after prepareThreshold uses.
                        try (Connection c = pool.getConnection()) {
                            try (PreparedStatement select = c.prepareStatement("SELECT hits FROM synergyflow_tasks.jdbc_probe WHERE id = ?")) {
                                select.setInt(1, i % 100 + 1);
                                try (ResultSet rs = select.executeQuery()) {
                                    rs.next();
                                }
                                statements.incrementAndGet();
                            }
                            if (i % 4 == 0) {
                                try (PreparedStatement update = c.prepareStatement("UPDATE synergyflow_tasks.jdbc_probe SET hits = hits + 1 WHERE id = ?")) {
                                    update.setInt(1, i % 100 + 1);
                                    update.executeUpdate();
                                    statements.incrementAndGet();
                                }
                            }
                        } catch (Exception e) {
                            errors.incrementAndGet();
                            firstError.compareAndSet("", e.getMessage() == null ? e.toString() : e.getMessage());
                        }
                    }
                });
            }
            executor.shutdown();
            executor.awaitTermination(10, TimeUnit.MINUTES);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("{\"units\":%d,\"statements\":%d,\"errors\":%d,\"firstError\":\"%s\",\"seconds\":%.2f,\"threads\":%d}%n",
                executions, statements.get(), errors.get(), firstError.get().replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", " "), seconds, threads);
    }
}
