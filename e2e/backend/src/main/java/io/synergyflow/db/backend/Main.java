package io.synergyflow.db.backend;

import com.sun.net.httpserver.HttpServer;
import com.zaxxer.hikari.HikariConfig;
import java.net.InetSocketAddress;
import java.util.Map;

/**
 * The e2e's stand-in for SynergyFlow's backend (image synergyflow.local/backend, e2e/toolchain/build-node-images.sh).
 * One main, two modes; see {@link #HELP}.
 */
public final class Main {
    /** Set by the modes' shutdown hooks: System.exit must not be called once the JVM is shutting down. */
    static volatile boolean shuttingDown;

    static final String HELP = """
            usage: java -jar /app/backend.jar [serve|load|selfcheck|--version|--help]

            serve (the default): SynergyFlow's backend stand-in, configured as its Spring Boot backend is from what
              the program emits. Environment: the datasource ConfigMap (envFrom): SPRING_DATASOURCE_URL (its
              sslrootcert names the CA file, mounted from the CA ConfigMap), SPRING_DATASOURCE_HIKARI_* (Spring's
              relaxed names), SPRING_FLYWAY_POSTGRESQL_TRANSACTIONALLOCK; SPRING_CONFIG_IMPORT=configtree:DIR/ with
              the files spring.datasource.username and spring.datasource.password (the credentials Secret mounted
              with items); SPRING_DATASOURCE_USERNAME/PASSWORD in the environment win over the config tree, as in
              Spring. SERVER_PORT (8080), BACKEND_WORK_TABLE (synergyflow_tasks.backend_work).
              Creates the table at start (Flyway-like advisory lock, retried), then serves HTTP:
                GET /healthz                  200 when SELECT 1 through the pool works, else 503
                GET|POST /work                one transaction: insert a row, read it back; 200 or 500 {"error"}
                GET /stats                    JSON counters, current_user/session_user/search_path of a pooled session
                GET /actuator/health/liveness 200 while the process runs
                GET /actuator/health/readiness 200 once the table exists and SELECT 1 works; 503 while stopping
              SIGTERM: no new requests, those in flight finish (30 s at most), the pool closes.

            load: N threads through HikariCP running the same transaction until a limit, counting committed and
              failed transactions, failed logins (physical connection attempts) and failed borrows. Environment:
              SPRING_DATASOURCE_URL, DB_USERNAME, DB_PASSWORD, SPRING_DATASOURCE_HIKARI_* (as integration/jdbc-client's
              JdbcLoad); LOAD_CREDENTIALS_DIR (optional: the credentials Secret mounted whole; LOAD_USERNAME_KEY,
              LOAD_PASSWORD_KEY name its files, default DB_USERNAME/DB_PASSWORD; re-read at every new connection,
              DB_USERNAME/DB_PASSWORD are then not needed); LOAD_THREADS (the pool's maximum size), LOAD_SECONDS (60;
              0 = until stopped), LOAD_STOP_FILE (/tmp/stop), LOAD_PAUSE_MS (0), LOAD_EVICT_SECONDS (0 = off: else
              soft-evict the pool that often, so that new logins keep happening), LOAD_TERMINATION_LOG
              (/dev/termination-log, written only if it exists), BACKEND_WORK_TABLE. Stops at the time limit, when the
              stop file appears, or on SIGTERM/SIGINT; prints one JSON line (also to the termination log); exit 0
              (the counts are the verdict), 2 on a configuration error.

            selfcheck: loads PgJDBC, HikariCP and the HTTP server and exits 0 (an image smoke test, no database).
            """;

    public static void main(String[] args) {
        // slf4j-simple: to stderr (the pod log), with the time.
        System.setProperty("org.slf4j.simpleLogger.showDateTime", "true");
        System.setProperty("org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSX");
        System.setProperty("org.slf4j.simpleLogger.showShortLogName", "true");
        String mode = args.length == 0 ? "serve" : args[0];
        int code;
        try {
            Map<String, String> env = System.getenv();
            code = switch (mode) {
                case "serve" -> Serve.run(env);
                case "load" -> Load.run(env);
                case "selfcheck" -> selfcheck();
                case "--version", "version" -> {
                    System.out.println(Main.class.getPackage().getImplementationVersion());
                    yield 0;
                }
                case "--help", "-h", "help" -> {
                    System.out.print(HELP);
                    yield 0;
                }
                default -> {
                    System.err.print("unknown mode " + mode + "\n" + HELP);
                    yield 2;
                }
            };
        } catch (IllegalStateException | IllegalArgumentException e) {
            System.err.println("backend " + mode + ": configuration error: " + e.getMessage());
            code = 2;
        } catch (Exception e) {
            System.err.println("backend " + mode + ": " + e);
            e.printStackTrace();
            code = 1;
        }
        if (!shuttingDown) System.exit(code);
    }

    private static int selfcheck() throws Exception {
        new org.postgresql.Driver();
        HikariConfig config = new HikariConfig();
        config.setMaximumPoolSize(1);
        config.setJdbcUrl("jdbc:postgresql://localhost/selfcheck");
        config.validate();
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 1);
        server.start();
        server.stop(0);
        System.out.println("selfcheck ok: Java " + Runtime.version() + ", PgJDBC " + org.postgresql.util.DriverInfo.DRIVER_VERSION
                + ", HikariCP and the HTTP server loaded, uid " + uid());
        return 0;
    }

    private static String uid() {
        try {
            return String.valueOf(java.nio.file.Files.getAttribute(java.nio.file.Path.of("/proc/self"), "unix:uid"));
        } catch (Exception e) {
            return "unknown";
        }
    }
}
