// The application's shape under load, for `npm run bench:pooler`: PODS HikariCP pools of
// SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE connections each (the backend's replicas), configured from the
// datasource ConfigMap's settings, one thread per connection issuing requests as a Spring service would: 60%
// read-only (a point read), 40% read-write (a point read, an update and an insert in one transaction), all
// prepared statements. Runs WARMUP_SECONDS, then SECONDS measured; prints one JSON line: requests per second,
// latency percentiles (ms), failed requests and the first error.
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

public class JdbcBench {
    static String env(String name) {
        String value = System.getenv(name);
        if (value == null) throw new IllegalStateException("missing environment variable " + name);
        return value;
    }

    public static void main(String[] args) throws Exception {
        int pods = Integer.parseInt(env("PODS"));
        int perPod = Integer.parseInt(env("SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE"));
        int rows = Integer.parseInt(env("TASK_ROWS"));
        long warmupNs = Long.parseLong(env("WARMUP_SECONDS")) * 1_000_000_000L;
        long measureNs = Long.parseLong(env("SECONDS")) * 1_000_000_000L;
        List<HikariDataSource> pools = new ArrayList<>();
        for (int p = 0; p < pods; p++) {
            HikariConfig config = new HikariConfig();
            config.setJdbcUrl(env("SPRING_DATASOURCE_URL"));
            config.setUsername(env("DB_USERNAME"));
            config.setPassword(env("DB_PASSWORD"));
            config.setMaximumPoolSize(perPod);
            config.setMinimumIdle(perPod);
            config.setConnectionTimeout(Long.parseLong(env("SPRING_DATASOURCE_HIKARI_CONNECTION_TIMEOUT")));
            config.setMaxLifetime(Long.parseLong(env("SPRING_DATASOURCE_HIKARI_MAX_LIFETIME")));
            pools.add(new HikariDataSource(config));
        }
        AtomicLong failed = new AtomicLong();
        AtomicReference<String> firstError = new AtomicReference<>("");
        long start = System.nanoTime();
        long measureFrom = start + warmupNs;
        long end = measureFrom + measureNs;
        List<Thread> threads = new ArrayList<>();
        List<long[]> latencies = new ArrayList<>();
        List<int[]> counts = new ArrayList<>();
        for (HikariDataSource pool : pools) {
            for (int t = 0; t < perPod; t++) {
                long[] mine = new long[200_000];
                int[] count = new int[1];
                latencies.add(mine);
                counts.add(count);
                Thread thread = new Thread(() -> {
                    ThreadLocalRandom random = ThreadLocalRandom.current();
                    long now;
                    while ((now = System.nanoTime()) < end) {
                        int id = random.nextInt(rows) + 1;
                        boolean write = random.nextInt(10) < 4;
                        try (Connection c = pool.getConnection()) {
                            if (write) c.setAutoCommit(false);
                            try (PreparedStatement read = c.prepareStatement("SELECT id, title, done FROM synergyflow_tasks.bench_tasks WHERE id = ?")) {
                                read.setInt(1, id);
                                try (ResultSet rs = read.executeQuery()) {
                                    rs.next();
                                }
                            }
                            if (write) {
                                try (PreparedStatement update = c.prepareStatement("UPDATE synergyflow_tasks.bench_tasks SET done = NOT done, updated = now() WHERE id = ?");
                                     PreparedStatement insert = c.prepareStatement("INSERT INTO synergyflow_audit.bench_events (task_id, what) VALUES (?, ?)")) {
                                    update.setInt(1, id);
                                    update.executeUpdate();
                                    insert.setInt(1, id);
                                    insert.setString(2, "toggled");
                                    insert.executeUpdate();
                                }
                                c.commit();
                                c.setAutoCommit(true);
                            }
                            long done = System.nanoTime();
                            if (now >= measureFrom && done < end && count[0] < mine.length) mine[count[0]++] = done - now;
                        } catch (Exception e) {
                            if (now >= measureFrom) failed.incrementAndGet();
                            firstError.compareAndSet("", e.getMessage() == null ? e.toString() : e.getMessage());
                        }
                    }
                });
                threads.add(thread);
                thread.start();
            }
        }
        for (Thread thread : threads) thread.join();
        for (HikariDataSource pool : pools) pool.close();
        int total = 0;
        for (int[] count : counts) total += count[0];
        long[] all = new long[total];
        int at = 0;
        for (int i = 0; i < latencies.size(); i++) {
            System.arraycopy(latencies.get(i), 0, all, at, counts.get(i)[0]);
            at += counts.get(i)[0];
        }
        Arrays.sort(all);
        double seconds = measureNs / 1e9;
        java.util.function.IntFunction<Double> pct = (p) -> all.length == 0 ? Double.NaN : all[Math.min(all.length - 1, (int) Math.floor(all.length * p / 100.0))] / 1e6;
        System.out.printf("{\"requestsPerSecond\":%.1f,\"p50Ms\":%.3f,\"p95Ms\":%.3f,\"p99Ms\":%.3f,\"requests\":%d,\"failed\":%d,\"connections\":%d,\"firstError\":\"%s\"}%n",
                total / seconds, pct.apply(50), pct.apply(95), pct.apply(99), total, failed.get(), pods * perPod,
                firstError.get().replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", " "));
    }
}
