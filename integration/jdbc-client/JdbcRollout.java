// The backend's pods under continuous load, rolled on command like its Deployment (RollingUpdate, maxSurge 1,
// maxUnavailable 0): each pod is a PgJDBC + HikariCP pool configured from the datasource ConfigMap's settings,
// with the credentials it reads at start from CREDENTIALS_FILE (what a pod reads from its Secret: username,
// then password). Commands on stdin: "roll" (replace every pod, one at a time; answers "rolled <ms>") and "stop"
// (prints one JSON line of counts). Every failed login, borrow or transaction is counted, none retried away.
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

public class JdbcRollout {
    static final AtomicLong transactions = new AtomicLong();
    static final AtomicLong failedTransactions = new AtomicLong();
    static final AtomicLong failedConnections = new AtomicLong();
    static final AtomicReference<String> firstError = new AtomicReference<>("");

    static String env(String name) {
        String value = System.getenv(name);
        if (value == null) throw new IllegalStateException("missing environment variable " + name);
        return value;
    }

    static void fail(AtomicLong counter, Exception e) {
        counter.incrementAndGet();
        firstError.compareAndSet("", e.getMessage() == null ? e.toString() : e.getMessage());
    }

    static class Pod {
        final HikariDataSource pool;
        final List<Thread> workers = new ArrayList<>();
        final AtomicLong served = new AtomicLong();
        volatile boolean stopping;

        Pod(HikariDataSource pool, int threads) {
            this.pool = pool;
            for (int t = 0; t < threads; t++) {
                Thread worker = new Thread(this::work);
                workers.add(worker);
                worker.start();
            }
        }

        void work() {
            int i = 0;
            while (!stopping) {
                i++;
                Connection c;
                try {
                    c = pool.getConnection();
                } catch (SQLException e) {
                    fail(failedConnections, e);
                    continue;
                }
                // A request: a prepared read and update in one transaction.
                try (c) {
                    c.setAutoCommit(false);
                    try (PreparedStatement select = c.prepareStatement("SELECT hits FROM synergyflow_tasks.rollout_probe WHERE id = ?");
                         PreparedStatement update = c.prepareStatement("UPDATE synergyflow_tasks.rollout_probe SET hits = hits + 1 WHERE id = ?")) {
                        select.setInt(1, i % 50 + 1);
                        try (ResultSet rs = select.executeQuery()) {
                            rs.next();
                        }
                        update.setInt(1, i % 50 + 1);
                        update.executeUpdate();
                    }
                    c.commit();
                    transactions.incrementAndGet();
                    served.incrementAndGet();
                } catch (SQLException e) {
                    fail(failedTransactions, e);
                }
            }
        }

        void stop() throws InterruptedException {
            stopping = true;
            for (Thread worker : workers) worker.join();
            pool.close();
        }
    }

    /** A new pod: its pool opens every connection at start with the credentials the Secret holds now. */
    static Pod startPod(Path credentials, int threads) throws Exception {
        List<String> secret = Files.readAllLines(credentials);
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(env("SPRING_DATASOURCE_URL"));
        config.setUsername(secret.get(0));
        config.setPassword(secret.get(1));
        config.setMaximumPoolSize(threads);
        config.setMinimumIdle(threads);
        config.setConnectionTimeout(Long.parseLong(env("SPRING_DATASOURCE_HIKARI_CONNECTION_TIMEOUT")));
        config.setIdleTimeout(Long.parseLong(env("SPRING_DATASOURCE_HIKARI_IDLE_TIMEOUT")));
        config.setMaxLifetime(Long.parseLong(env("SPRING_DATASOURCE_HIKARI_MAX_LIFETIME")));
        config.setKeepaliveTime(Long.parseLong(env("SPRING_DATASOURCE_HIKARI_KEEPALIVE_TIME")));
        return new Pod(new HikariDataSource(config), threads);
    }

    public static void main(String[] args) throws Exception {
        Path credentials = Path.of(env("CREDENTIALS_FILE"));
        int podCount = Integer.parseInt(env("PODS"));
        int threads = Integer.parseInt(env("THREADS_PER_POD"));
        try (HikariDataSource setup = new HikariDataSource()) {
            List<String> secret = Files.readAllLines(credentials);
            setup.setJdbcUrl(env("SPRING_DATASOURCE_URL"));
            setup.setUsername(secret.get(0));
            setup.setPassword(secret.get(1));
            try (Connection c = setup.getConnection()) {
                c.createStatement().execute("CREATE TABLE IF NOT EXISTS synergyflow_tasks.rollout_probe (id int PRIMARY KEY, hits bigint NOT NULL DEFAULT 0)");
                c.createStatement().execute("INSERT INTO synergyflow_tasks.rollout_probe SELECT g, 0 FROM generate_series(1, 50) g ON CONFLICT DO NOTHING");
            }
        }
        List<Pod> pods = new ArrayList<>();
        for (int p = 0; p < podCount; p++) pods.add(startPod(credentials, threads));
        System.out.println("ready");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String command;
        while ((command = in.readLine()) != null && !command.equals("stop")) {
            if (!command.equals("roll")) continue;
            long start = System.nanoTime();
            for (int p = 0; p < pods.size(); p++) {
                // The new pod first (surge); the old one goes once the new one has served requests (ready).
                Pod next;
                try {
                    next = startPod(credentials, threads);
                } catch (Exception e) {
                    // A pod that cannot log in never becomes ready: the rollout stops, the old pods stay.
                    fail(failedConnections, e);
                    break;
                }
                long deadline = System.nanoTime() + 30_000_000_000L;
                while (next.served.get() < 20 && System.nanoTime() < deadline) Thread.sleep(10);
                if (next.served.get() < 20) {
                    fail(failedConnections, new IllegalStateException("a new pod served no request within 30 s"));
                    next.stop();
                    break;
                }
                pods.get(p).stop();
                pods.set(p, next);
            }
            System.out.println("rolled " + (System.nanoTime() - start) / 1_000_000);
        }
        for (Pod pod : pods) pod.stop();
        System.out.printf("{\"transactions\":%d,\"failedTransactions\":%d,\"failedConnections\":%d,\"firstError\":\"%s\"}%n",
                transactions.get(), failedTransactions.get(), failedConnections.get(), firstError.get().replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", " "));
    }
}
