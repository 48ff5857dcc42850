package io.synergyflow.db.backend;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client for a rotation under load: LOAD_THREADS threads borrowing from one HikariCP pool and running the
 * application's transaction (Work.transact) continuously, until LOAD_SECONDS pass, LOAD_STOP_FILE exists or
 * SIGTERM/SIGINT arrives. Nothing is retried away: every failed borrow, transaction and physical login is counted.
 * The result is one JSON line on stdout and, when it exists (Kubernetes creates it), in the termination log.
 */
final class Load {
    private static final Logger log = LoggerFactory.getLogger(Load.class);

    static String envOr(Map<String, String> env, String name, String fallback) {
        String value = env.get(name);
        return value == null || value.isBlank() ? fallback : value.trim();
    }

    static String required(Map<String, String> env, String name) {
        String value = env.get(name);
        if (value == null) throw new IllegalStateException("missing environment variable " + name);
        return value;
    }

    static int run(Map<String, String> env) throws Exception {
        SpringSettings settings = new SpringSettings(env);
        String url = settings.require("spring.datasource.url");
        Errors errors = new Errors();
        LoginDataSource.Credentials credentials;
        String credentialsDir = env.get("LOAD_CREDENTIALS_DIR");
        if (credentialsDir != null && !credentialsDir.isBlank()) {
            String usernameKey = envOr(env, "LOAD_USERNAME_KEY", "DB_USERNAME");
            String passwordKey = envOr(env, "LOAD_PASSWORD_KEY", "DB_PASSWORD");
            credentials = LoginDataSource.Credentials.files(Path.of(credentialsDir.trim()), usernameKey, passwordKey);
            log.info("credentials re-read from the files {} and {} in {} at every new connection; first login role {}", usernameKey, passwordKey, credentialsDir.trim(), credentials.get().username());
        } else {
            credentials = LoginDataSource.Credentials.fixed(required(env, "DB_USERNAME"), required(env, "DB_PASSWORD"), "env DB_USERNAME/DB_PASSWORD");
            log.info("login role {} (env DB_USERNAME, fixed for the run)", credentials.get().username());
        }
        LoginDataSource logins = new LoginDataSource(url, credentials, errors);
        HikariConfig config = new HikariConfig();
        config.setDataSource(logins);
        config.setPoolName("load");
        // The pool starts without a first connection: a client that cannot log in reports it, it does not crash.
        config.setInitializationFailTimeout(-1);
        log.info("JDBC URL {}; spring.datasource.hikari: {}", url, String.join(" ", settings.bindHikari(config)));

        int threads = Integer.parseInt(envOr(env, "LOAD_THREADS", String.valueOf(config.getMaximumPoolSize())));
        long seconds = Long.parseLong(envOr(env, "LOAD_SECONDS", "60"));
        Path stopFile = Path.of(envOr(env, "LOAD_STOP_FILE", "/tmp/stop"));
        long pauseMs = Long.parseLong(envOr(env, "LOAD_PAUSE_MS", "0"));
        long evictSeconds = Long.parseLong(envOr(env, "LOAD_EVICT_SECONDS", "0"));
        Path terminationLog = Path.of(envOr(env, "LOAD_TERMINATION_LOG", "/dev/termination-log"));
        String origin = envOr(env, "LOAD_ORIGIN", "load@" + envOr(env, "HOSTNAME", "client"));
        boolean transactionalLock = Boolean.parseBoolean(settings.get("spring.flyway.postgresql.transactional-lock").orElse("true").trim());
        Work work = new Work(envOr(env, "BACKEND_WORK_TABLE", Work.DEFAULT_TABLE), transactionalLock);
        log.info("{} threads, {}, stop file {}, pause {} ms, soft eviction {}", threads, seconds > 0 ? seconds + " s" : "no time limit", stopFile,
                pauseMs, evictSeconds > 0 ? "every " + evictSeconds + " s" : "off");

        CountDownLatch reported = new CountDownLatch(1);
        AtomicLong signalled = new AtomicLong();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            Main.shuttingDown = true;
            signalled.set(1);
            try {
                // Let the main thread stop the workers and write the report (within the pod's grace period).
                reported.await(20, TimeUnit.SECONDS);
            } catch (InterruptedException ignored) {
                // exit now
            }
        }, "shutdown"));

        long start = System.nanoTime();
        long deadline = seconds > 0 ? start + TimeUnit.SECONDS.toNanos(seconds) : Long.MAX_VALUE;
        LongAdder committed = new LongAdder();
        LongAdder failedTransactions = new LongAdder();
        LongAdder borrowFailures = new LongAdder();
        Map<String, LongAdder> byRole = new ConcurrentHashMap<>();
        String stoppedBy = null;
        try (HikariDataSource pool = new HikariDataSource(config)) {
            // The table, as the backend creates it (retried: the pooler may not be there yet).
            while (true) {
                try {
                    work.migrate(pool);
                    break;
                } catch (SQLException | RuntimeException e) {
                    errors.record("setup: " + Errors.describe(e));
                    log.warn("setup failed, retrying in 1 s: {}", Errors.describe(e));
                }
                stoppedBy = stopReason(signalled, stopFile, deadline);
                if (stoppedBy != null) break;
                Thread.sleep(1000);
            }
            long setupMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            // Connections opened during setup are not the run's.
            long setupAttempts = logins.attempts.get();
            long setupFailures = logins.failures.get();
            volatileStop = false;
            List<Thread> workers = new ArrayList<>();
            if (stoppedBy == null) {
                log.info("setup done in {} ms: running", setupMs);
                for (int t = 0; t < threads; t++) {
                    Thread worker = new Thread(() -> {
                        while (!volatileStop) {
                            Connection c;
                            try {
                                c = pool.getConnection();
                            } catch (SQLException e) {
                                borrowFailures.increment();
                                errors.record("borrow: " + Errors.describe(e));
                                sleep(100);
                                continue;
                            }
                            try (c) {
                                Work.Result result = work.transact(c, origin);
                                committed.increment();
                                byRole.computeIfAbsent(result.loginRole(), k -> new LongAdder()).increment();
                            } catch (SQLException | RuntimeException e) {
                                failedTransactions.increment();
                                errors.record("transaction: " + Errors.describe(e));
                            }
                            if (pauseMs > 0) sleep(pauseMs);
                        }
                    }, "load-" + t);
                    workers.add(worker);
                    worker.start();
                }
                long nextEvict = evictSeconds > 0 ? System.nanoTime() + TimeUnit.SECONDS.toNanos(evictSeconds) : Long.MAX_VALUE;
                long nextProgress = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while ((stoppedBy = stopReason(signalled, stopFile, deadline)) == null) {
                    Thread.sleep(100);
                    long now = System.nanoTime();
                    if (now >= nextEvict) {
                        // Every connection is replaced once idle: new logins with the credentials mounted now.
                        pool.getHikariPoolMXBean().softEvictConnections();
                        nextEvict = now + TimeUnit.SECONDS.toNanos(evictSeconds);
                    }
                    if (now >= nextProgress) {
                        log.info("progress: {} committed, {} failed transactions, {} failed logins, {} failed borrows", committed.sum(), failedTransactions.sum(),
                                logins.failures.get() - setupFailures, borrowFailures.sum());
                        nextProgress = now + TimeUnit.SECONDS.toNanos(10);
                    }
                }
                volatileStop = true;
                for (Thread worker : workers) worker.join(TimeUnit.SECONDS.toMillis(15));
            }
            Map<String, Object> report = new LinkedHashMap<>();
            report.put("mode", "load");
            report.put("stoppedBy", stoppedBy);
            report.put("seconds", Math.round((System.nanoTime() - start) / 1e7) / 100.0);
            report.put("setupMs", setupMs);
            report.put("threads", threads);
            report.put("transactions", committed.sum());
            report.put("failedTransactions", failedTransactions.sum());
            report.put("failedConnections", logins.failures.get() - setupFailures);
            report.put("connectionAttempts", logins.attempts.get() - setupAttempts);
            report.put("failedBorrows", borrowFailures.sum());
            report.put("setupFailures", setupFailures);
            Map<String, Long> roles = new TreeMap<>();
            byRole.forEach((k, v) -> roles.put(k, v.sum()));
            report.put("transactionsByRole", roles);
            report.put("connectionsByRole", logins.openedByRole());
            report.put("firstError", errors.first.get());
            report.put("lastError", errors.last.get());
            String line = Json.of(report);
            System.out.println(line);
            System.out.flush();
            writeTerminationLog(terminationLog, line);
        } finally {
            reported.countDown();
        }
        return 0;
    }

    private static volatile boolean volatileStop;

    private static String stopReason(AtomicLong signalled, Path stopFile, long deadline) {
        if (signalled.get() != 0) return "signal";
        if (Files.exists(stopFile)) return "file";
        if (System.nanoTime() >= deadline) return "time";
        return null;
    }

    /** Kubernetes' terminationMessagePath (a file the kubelet mounts): written only when it exists, never created. */
    private static void writeTerminationLog(Path path, String line) {
        if (!Files.exists(path)) {
            log.info("no {} (not in a pod): the report is on stdout only", path);
            return;
        }
        try {
            Files.writeString(path, line + "\n", StandardCharsets.UTF_8);
        } catch (IOException e) {
            log.warn("cannot write {}: {}", path, e.toString());
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
