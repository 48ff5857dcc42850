package io.synergyflow.db.backend;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The application's kind of transaction, and the table it writes (created at start as Flyway would create it:
 * under an advisory lock, transaction-level when SPRING_FLYWAY_POSTGRESQL_TRANSACTIONALLOCK=true as the emitted
 * ConfigMap sets, else a session lock, Flyway's default, which transaction pooling does not make exclusive).
 */
final class Work {
    private static final Logger log = LoggerFactory.getLogger(Work.class);
    static final String DEFAULT_TABLE = "synergyflow_tasks.backend_work";
    private static final Pattern QUALIFIED = Pattern.compile("[a-z_][a-z0-9_]{0,62}\\.[a-z_][a-z0-9_]{0,62}");
    /** The advisory lock key (Flyway hashes its schema history table's name; any fixed key does here). */
    private static final long LOCK_KEY = 0x5f_db_ba_c0L;

    final String table;
    final boolean transactionalLock;

    Work(String table, boolean transactionalLock) {
        if (!QUALIFIED.matcher(table).matches()) throw new IllegalStateException("BACKEND_WORK_TABLE must be schema.table in lowercase identifiers, not " + table);
        this.table = table;
        this.transactionalLock = transactionalLock;
    }

    /** CREATE TABLE IF NOT EXISTS under the lock; the session's current_user owns it (the owner role behind the login roles). */
    void migrate(DataSource dataSource) throws SQLException {
        String ddl = "CREATE TABLE IF NOT EXISTS " + table + " (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, origin text NOT NULL, "
                + "login_role text NOT NULL, payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())";
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
            if (transactionalLock) {
                c.setAutoCommit(false);
                s.execute("SELECT pg_advisory_xact_lock(" + LOCK_KEY + ")");
                s.execute(ddl);
                c.commit();
            } else {
                s.execute("SELECT pg_advisory_lock(" + LOCK_KEY + ")");
                try {
                    s.execute(ddl);
                } finally {
                    s.execute("SELECT pg_advisory_unlock(" + LOCK_KEY + ")");
                }
            }
        }
        log.info("table {} ready ({} advisory lock)", table, transactionalLock ? "transaction-level" : "session-level");
    }

    record Result(long id, String loginRole, String currentUser) {}

    /** One request's transaction: insert a row, read it back in the same transaction, commit. */
    Result transact(Connection c, String origin) throws SQLException {
        c.setAutoCommit(false);
        try {
            String payload = "work-" + Long.toHexString(ThreadLocalRandom.current().nextLong());
            long id;
            String loginRole;
            String currentUser;
            try (PreparedStatement insert = c.prepareStatement("INSERT INTO " + table + " (origin, login_role, payload) VALUES (?, session_user, ?) RETURNING id, login_role, current_user")) {
                insert.setString(1, origin);
                insert.setString(2, payload);
                try (ResultSet rs = insert.executeQuery()) {
                    rs.next();
                    id = rs.getLong(1);
                    loginRole = rs.getString(2);
                    currentUser = rs.getString(3);
                }
            }
            try (PreparedStatement read = c.prepareStatement("SELECT payload FROM " + table + " WHERE id = ?")) {
                read.setLong(1, id);
                try (ResultSet rs = read.executeQuery()) {
                    if (!rs.next() || !payload.equals(rs.getString(1))) throw new SQLException("row " + id + " not read back as written", "XX000");
                }
            }
            c.commit();
            return new Result(id, loginRole, currentUser);
        } catch (SQLException | RuntimeException e) {
            try {
                c.rollback();
            } catch (SQLException ignored) {
                // the connection is broken; HikariCP evicts it
            }
            throw e;
        }
    }
}
