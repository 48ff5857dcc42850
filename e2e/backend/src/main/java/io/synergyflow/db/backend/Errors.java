package io.synergyflow.db.backend;

import java.util.concurrent.atomic.AtomicReference;

/** The first and the latest error, for the JSON reports (a count says how many; these say what). */
final class Errors {
    final AtomicReference<String> first = new AtomicReference<>("");
    final AtomicReference<String> last = new AtomicReference<>("");

    void record(String message) {
        String text = message == null ? "" : message.replace('\n', ' ');
        if (text.length() > 300) text = text.substring(0, 300) + "...";
        first.compareAndSet("", text);
        last.set(text);
    }

    static String describe(Throwable e) {
        String message = e.getMessage() == null ? e.toString() : e.getMessage();
        if (e instanceof java.sql.SQLException sql && sql.getSQLState() != null) message += " [SQLState " + sql.getSQLState() + "]";
        return message;
    }
}
