package io.synergyflow.db.backend;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import com.zaxxer.hikari.HikariDataSource;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The backend stand-in: a HikariCP pool configured as Spring Boot would configure it, behind a small HTTP API. */
final class Serve {
    private static final Logger log = LoggerFactory.getLogger(Serve.class);

    private final HikariDataSource pool;
    private final LoginDataSource logins;
    private final Work work;
    private final String loginRole;
    private final String origin;
    private final Errors errors = new Errors();
    private final AtomicLong workOk = new AtomicLong();
    private final AtomicLong workFailed = new AtomicLong();
    private final AtomicLong healthOk = new AtomicLong();
    private final AtomicLong healthFailed = new AtomicLong();
    private final AtomicLong borrowFailures = new AtomicLong();
    private final AtomicInteger inFlight = new AtomicInteger();
    private volatile boolean migrated;
    private volatile boolean stopping;
    private final long startedAt = System.currentTimeMillis();

    private Serve(Map<String, String> env) {
        SpringSettings settings = new SpringSettings(env);
        String url = settings.require("spring.datasource.url");
        loginRole = settings.require("spring.datasource.username");
        String password = settings.require("spring.datasource.password");
        log.info("login role {} ({}; password from {})", loginRole, settings.origin("spring.datasource.username"), settings.origin("spring.datasource.password"));
        log.info("JDBC URL {} ({})", url, settings.origin("spring.datasource.url"));
        String rootCert = urlParameter(url, "sslrootcert");
        if (rootCert != null) log.info("sslrootcert {} {}", rootCert, Files.isReadable(Path.of(rootCert)) ? "is readable" : "IS NOT READABLE (connections will fail)");
        logins = new LoginDataSource(url, LoginDataSource.Credentials.fixed(loginRole, password, settings.origin("spring.datasource.username")), errors);
        // Spring Boot's DataSourceBuilder: a HikariDataSource made with no arguments, its pool started at the first borrow.
        pool = new HikariDataSource();
        pool.setDataSource(logins);
        log.info("spring.datasource.hikari: {}", String.join(" ", settings.bindHikari(pool)));
        boolean transactionalLock = Boolean.parseBoolean(settings.get("spring.flyway.postgresql.transactional-lock").orElse("false").trim());
        work = new Work(env.getOrDefault("BACKEND_WORK_TABLE", Work.DEFAULT_TABLE), transactionalLock);
        origin = env.getOrDefault("HOSTNAME", "backend");
    }

    static String urlParameter(String url, String name) {
        int q = url.indexOf('?');
        if (q < 0) return null;
        for (String pair : url.substring(q + 1).split("&")) {
            int eq = pair.indexOf('=');
            if (eq > 0 && pair.substring(0, eq).equals(name)) return URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
        }
        return null;
    }

    static int run(Map<String, String> env) throws Exception {
        Serve serve = new Serve(env);
        int port = Integer.parseInt(env.getOrDefault("SERVER_PORT", "8080"));
        HttpServer server = HttpServer.create(new InetSocketAddress(port), 256);
        AtomicInteger threadId = new AtomicInteger();
        ExecutorService executor = Executors.newFixedThreadPool(Math.max(16, serve.pool.getMaximumPoolSize() * 2), r -> {
            Thread t = new Thread(r, "http-" + threadId.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor);
        server.createContext("/healthz", serve.handler(serve::healthz));
        server.createContext("/work", serve.handler(serve::work));
        server.createContext("/stats", serve.handler(serve::stats));
        server.createContext("/actuator/health", serve.handler(serve::actuator));
        server.createContext("/", serve.handler(exchange -> new Reply(404, Map.of("error", "not found: " + exchange.getRequestURI().getPath()))));
        server.start();
        log.info("serving http on port {}: /healthz /work /stats /actuator/health/liveness /actuator/health/readiness", port);

        Thread migration = new Thread(serve::migrateUntilDone, "migration");
        migration.setDaemon(true);
        migration.start();

        Object done = new Object();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            Main.shuttingDown = true;
            serve.stopping = true;
            // As Spring Boot's graceful shutdown: no new requests, the ones in flight finish (30 s at most), then the pool closes.
            log.info("stopping: readiness OUT_OF_SERVICE, no new connections, finishing {} requests in flight", serve.inFlight.get());
            // HttpServer.stop closes the listener at once but (JDK 17; fixed in 21 by JDK-8304065) waits its whole
            // delay even when idle: it runs beside, and the hook waits for the requests in flight only.
            Thread stopper = new Thread(() -> server.stop(30), "http-stop");
            stopper.setDaemon(true);
            stopper.start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            try {
                Thread.sleep(100);
                while (serve.inFlight.get() > 0 && System.nanoTime() < deadline) Thread.sleep(10);
            } catch (InterruptedException ignored) {
                // exit now
            }
            executor.shutdown();
            serve.pool.close();
            log.info("stopped: {}", Json.of(serve.counters()));
            synchronized (done) {
                done.notifyAll();
            }
        }, "shutdown"));
        synchronized (done) {
            while (true) done.wait();
        }
    }

    private void migrateUntilDone() {
        long delay = 1000;
        while (!stopping) {
            try {
                work.migrate(pool);
                migrated = true;
                return;
            } catch (Exception e) {
                errors.record("migration: " + Errors.describe(e));
                log.warn("creating {} failed, retrying in {} ms: {}", work.table, delay, Errors.describe(e));
            }
            try {
                Thread.sleep(delay);
            } catch (InterruptedException e) {
                return;
            }
            delay = Math.min(delay * 2, 10_000);
        }
    }

    record Reply(int status, Map<String, ?> body) {}

    interface Handler {
        Reply handle(HttpExchange exchange) throws Exception;
    }

    private HttpHandler handler(Handler handler) {
        return exchange -> {
            inFlight.incrementAndGet();
            Reply reply;
            try {
                reply = handler.handle(exchange);
            } catch (Exception e) {
                reply = new Reply(500, Map.of("error", Errors.describe(e)));
            }
            byte[] body = (Json.of(reply.body()) + "\n").getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            try {
                if (exchange.getRequestMethod().equals("HEAD")) {
                    exchange.sendResponseHeaders(reply.status(), -1);
                } else {
                    exchange.sendResponseHeaders(reply.status(), body.length);
                    exchange.getResponseBody().write(body);
                }
            } catch (IOException e) {
                log.debug("client went away: {}", e.toString());
            } finally {
                exchange.close();
                inFlight.decrementAndGet();
            }
        };
    }

    private Connection borrow() throws SQLException {
        try {
            return pool.getConnection();
        } catch (SQLException | RuntimeException e) {
            borrowFailures.incrementAndGet();
            errors.record("borrow: " + Errors.describe(e));
            throw e;
        }
    }

    private boolean selectOne() {
        try (Connection c = borrow(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT 1")) {
            return rs.next() && rs.getInt(1) == 1;
        } catch (Exception e) {
            errors.record("SELECT 1: " + Errors.describe(e));
            return false;
        }
    }

    private static boolean isGet(HttpExchange exchange) {
        return exchange.getRequestMethod().equals("GET") || exchange.getRequestMethod().equals("HEAD");
    }

    private Reply healthz(HttpExchange exchange) {
        if (!isGet(exchange)) return new Reply(405, Map.of("error", "GET only"));
        if (selectOne()) {
            healthOk.incrementAndGet();
            return new Reply(200, Map.of("status", "UP"));
        }
        healthFailed.incrementAndGet();
        return new Reply(503, Map.of("status", "DOWN", "error", errors.last.get()));
    }

    /** Spring Boot Actuator's probes: liveness is the process (as Spring's LivenessState); readiness needs the table and a working SELECT 1. */
    private Reply actuator(HttpExchange exchange) {
        if (!isGet(exchange)) return new Reply(405, Map.of("error", "GET only"));
        String path = exchange.getRequestURI().getPath().replaceAll("/+$", "");
        switch (path) {
            case "/actuator/health/liveness":
                return new Reply(200, Map.of("status", "UP"));
            case "/actuator/health/readiness":
            case "/actuator/health":
                if (stopping) return new Reply(503, Map.of("status", "OUT_OF_SERVICE"));
                if (!migrated) return new Reply(503, Map.of("status", "OUT_OF_SERVICE", "reason", "table not created yet", "error", errors.last.get()));
                return selectOne() ? new Reply(200, Map.of("status", "UP")) : new Reply(503, Map.of("status", "DOWN", "error", errors.last.get()));
            default:
                return new Reply(404, Map.of("error", "not found: " + path));
        }
    }

    private Reply work(HttpExchange exchange) throws IOException {
        String method = exchange.getRequestMethod();
        if (!method.equals("GET") && !method.equals("POST")) return new Reply(405, Map.of("error", "GET or POST"));
        exchange.getRequestBody().readAllBytes();
        try (Connection c = borrow()) {
            Work.Result result = work.transact(c, origin);
            workOk.incrementAndGet();
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("id", result.id());
            body.put("loginRole", result.loginRole());
            body.put("currentUser", result.currentUser());
            return new Reply(200, body);
        } catch (SQLException | RuntimeException e) {
            workFailed.incrementAndGet();
            errors.record("work: " + Errors.describe(e));
            return new Reply(500, Map.of("error", Errors.describe(e)));
        }
    }

    private Map<String, Object> counters() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("origin", origin);
        out.put("loginRole", loginRole);
        out.put("uptimeSeconds", (System.currentTimeMillis() - startedAt) / 1000);
        out.put("ready", migrated && !stopping);
        out.put("requestsOk", workOk.get());
        out.put("requestsFailed", workFailed.get());
        out.put("healthOk", healthOk.get());
        out.put("healthFailed", healthFailed.get());
        out.put("connectionAttempts", logins.attempts.get());
        out.put("connectionFailures", logins.failures.get());
        out.put("borrowFailures", borrowFailures.get());
        out.put("connectionsByRole", logins.openedByRole());
        out.put("firstError", errors.first.get());
        out.put("lastError", errors.last.get());
        return out;
    }

    private Reply stats(HttpExchange exchange) {
        if (!isGet(exchange)) return new Reply(405, Map.of("error", "GET only"));
        Map<String, Object> out = counters();
        try (Connection c = borrow(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT current_user, session_user, current_setting('search_path')")) {
            rs.next();
            out.put("currentUser", rs.getString(1));
            out.put("sessionUser", rs.getString(2));
            out.put("searchPath", rs.getString(3));
        } catch (Exception e) {
            out.put("currentUser", null);
            out.put("sessionUser", null);
            out.put("searchPath", null);
            out.put("statsError", Errors.describe(e));
        }
        return new Reply(200, out);
    }

}
