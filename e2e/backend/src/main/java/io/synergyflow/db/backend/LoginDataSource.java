package io.synergyflow.db.backend;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The DataSource HikariCP opens its physical connections with (HikariConfig.setDataSource, no username on the
 * pool, so Hikari calls {@link #getConnection()}): PgJDBC's Driver with the JDBC URL and the credentials the
 * {@link Credentials} supplier gives at that moment. Every attempt is counted, and every failure (a refused
 * login, an unreachable pooler, a TLS error) is counted and logged: HikariCP itself only retries them.
 */
final class LoginDataSource implements DataSource {
    private static final Logger log = LoggerFactory.getLogger(LoginDataSource.class);

    record Login(String username, String password, String origin) {}

    /** Where a new connection's credentials come from. */
    interface Credentials extends Supplier<Login> {
        /** Fixed at start (the serve mode: a rollout brings new pods with new credentials). */
        static Credentials fixed(String username, String password, String origin) {
            Login login = new Login(username, password, origin);
            return () -> login;
        }

        /**
         * Re-read from a mounted Secret's files at every new connection. The kubelet swaps a Secret volume
         * atomically (the key files are symlinks through {@code ..data}, itself a symlink to a timestamped
         * directory it replaces), so both files are read from the directory {@code ..data} resolves to once:
         * a swap between the two reads can never pair one Secret's username with another's password.
         */
        static Credentials files(Path dir, String usernameKey, String passwordKey) {
            return () -> {
                for (int attempt = 0; ; attempt++) {
                    Path data = dir.resolve("..data");
                    try {
                        Path from = Files.exists(data) ? data.toRealPath() : dir;
                        String username = SpringSettings.trimOneLine(Files.readString(from.resolve(usernameKey), StandardCharsets.UTF_8));
                        String password = SpringSettings.trimOneLine(Files.readString(from.resolve(passwordKey), StandardCharsets.UTF_8));
                        return new Login(username, password, "files " + from);
                    } catch (NoSuchFileException e) {
                        // The timestamped directory went away between resolving ..data and reading: read again.
                        if (attempt >= 3) throw new IllegalStateException("credentials file missing: " + e.getFile(), e);
                    } catch (IOException e) {
                        throw new IllegalStateException("cannot read credentials under " + dir + ": " + e, e);
                    }
                }
            };
        }
    }

    private final String url;
    private final Credentials credentials;
    private final org.postgresql.Driver driver = new org.postgresql.Driver();
    final AtomicLong attempts = new AtomicLong();
    final AtomicLong failures = new AtomicLong();
    /** Physical connections opened, by login role: shows which credentials the pool followed. */
    final Map<String, AtomicLong> opened = new ConcurrentHashMap<>();
    private final Errors errors;
    private volatile String lastUsername = "";
    private int loginTimeoutSeconds;

    LoginDataSource(String url, Credentials credentials, Errors errors) {
        this.url = url;
        this.credentials = credentials;
        this.errors = errors;
    }

    @Override
    public Connection getConnection() throws SQLException {
        long attempt = attempts.incrementAndGet();
        Login login;
        try {
            login = credentials.get();
        } catch (RuntimeException e) {
            failures.incrementAndGet();
            errors.record("credentials: " + e.getMessage());
            throw new SQLException("cannot read the credentials: " + e.getMessage(), "08004", e);
        }
        if (!login.username().equals(lastUsername)) {
            log.info("new connections log in as {} ({})", login.username(), login.origin());
            lastUsername = login.username();
        }
        Properties props = new Properties();
        props.setProperty("user", login.username());
        props.setProperty("password", login.password());
        if (loginTimeoutSeconds > 0 && !url.contains("loginTimeout=")) props.setProperty("loginTimeout", String.valueOf(loginTimeoutSeconds));
        try {
            Connection connection = driver.connect(url, props);
            if (connection == null) throw new SQLException("PgJDBC does not accept the URL " + url, "08001");
            opened.computeIfAbsent(login.username(), k -> new AtomicLong()).incrementAndGet();
            return connection;
        } catch (SQLException e) {
            long failed = failures.incrementAndGet();
            errors.record("connect as " + login.username() + ": " + e.getMessage());
            if (failed <= 20 || failed % 100 == 0) log.warn("connection attempt {} as {} failed ({} failed so far): {} [SQLState {}]", attempt, login.username(), failed, e.getMessage(), e.getSQLState());
            throw e;
        }
    }

    Map<String, Long> openedByRole() {
        Map<String, Long> out = new TreeMap<>();
        opened.forEach((k, v) -> out.put(k, v.get()));
        return out;
    }

    @Override
    public Connection getConnection(String username, String password) throws SQLException {
        throw new SQLFeatureNotSupportedException("credentials come from the configured source");
    }

    @Override
    public PrintWriter getLogWriter() {
        return null;
    }

    @Override
    public void setLogWriter(PrintWriter out) {}

    /** HikariCP sets it from connectionTimeout; PgJDBC's loginTimeout property carries it. */
    @Override
    public void setLoginTimeout(int seconds) {
        loginTimeoutSeconds = seconds;
    }

    @Override
    public int getLoginTimeout() {
        return loginTimeoutSeconds;
    }

    @Override
    public java.util.logging.Logger getParentLogger() throws SQLFeatureNotSupportedException {
        throw new SQLFeatureNotSupportedException();
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        if (iface.isInstance(this)) return iface.cast(this);
        throw new SQLException("not a wrapper for " + iface);
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) {
        return iface.isInstance(this);
    }

}
