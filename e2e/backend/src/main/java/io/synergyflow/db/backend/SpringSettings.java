package io.synergyflow.db.backend;

import com.zaxxer.hikari.HikariConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.BiConsumer;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The datasource settings as SynergyFlow's Spring Boot backend reads them from what our program emits (no Spring
 * here, the same rules):
 * <ul>
 *   <li>OS environment variables, Spring's relaxed binding: property {@code spring.datasource.hikari.maximum-pool-size}
 *       is {@code SPRING_DATASOURCE_HIKARI_MAXIMUMPOOLSIZE} or, the legacy form our ConfigMap uses,
 *       {@code SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE} (dots and dashes as underscores).</li>
 *   <li>{@code SPRING_CONFIG_IMPORT} = {@code [optional:]configtree:DIR/}, comma-separated: every regular file under DIR
 *       is a property named like its path (Kubernetes' {@code ..data} entries are skipped, as Spring skips names that
 *       start with ".."); a one-line value loses its trailing newline (Spring's AUTO_TRIM_TRAILING_NEW_LINE). A location
 *       without {@code optional:} that does not exist stops the start, as Spring's ConfigDataLocationNotFoundException does.
 *       Imported values rank below the OS environment.</li>
 * </ul>
 */
final class SpringSettings {
    private static final Logger log = LoggerFactory.getLogger(SpringSettings.class);

    private final Map<String, String> env;
    /** Property name (as the file is named) -> value, from the imported config trees. */
    private final Map<String, String> configTree = new TreeMap<>();
    /** Property name -> where it came from (for the start log). */
    private final Map<String, String> origins = new LinkedHashMap<>();

    SpringSettings(Map<String, String> env) {
        this.env = env;
        String imports = env.get("SPRING_CONFIG_IMPORT");
        if (imports != null) {
            for (String raw : imports.split(",")) {
                String location = raw.trim();
                if (location.isEmpty()) continue;
                boolean optional = location.startsWith("optional:");
                if (optional) location = location.substring("optional:".length());
                if (!location.startsWith("configtree:")) {
                    log.warn("SPRING_CONFIG_IMPORT location {} is not a configtree: this stand-in reads config trees only", raw.trim());
                    continue;
                }
                Path dir = Path.of(location.substring("configtree:".length()));
                if (!Files.isDirectory(dir)) {
                    if (optional) continue;
                    throw new IllegalStateException("Config data location '" + raw.trim() + "' does not exist (not optional: the start stops, as Spring Boot's would)");
                }
                readConfigTree(dir);
            }
        }
    }

    private void readConfigTree(Path dir) {
        try (Stream<Path> files = Files.walk(dir, 100, FileVisitOption.FOLLOW_LINKS)) {
            files.filter(Files::isRegularFile).forEach(file -> {
                Path relative = dir.relativize(file);
                for (Path part : relative) if (part.toString().startsWith("..")) return;
                String name = relative.toString().replace('/', '.');
                try {
                    configTree.putIfAbsent(name, trimOneLine(Files.readString(file, StandardCharsets.UTF_8)));
                    origins.putIfAbsent(name, "configtree " + file);
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot read " + file, e);
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list config tree " + dir, e);
        }
    }

    /** Spring's ConfigTreePropertySource AUTO_TRIM_TRAILING_NEW_LINE: a single line loses its newline, several keep theirs. */
    static String trimOneLine(String value) {
        if (!value.endsWith("\n")) return value;
        if (value.indexOf('\n') != value.length() - 1) return value;
        return value.endsWith("\r\n") ? value.substring(0, value.length() - 2) : value.substring(0, value.length() - 1);
    }

    /** The environment variable names Spring's SystemEnvironmentPropertyMapper tries for a property. */
    static List<String> envNames(String property) {
        String upper = property.toUpperCase(Locale.ROOT);
        String canonical = upper.replace("-", "").replace('.', '_');
        String legacy = upper.replace('-', '_').replace('.', '_');
        return canonical.equals(legacy) ? List.of(canonical) : List.of(canonical, legacy);
    }

    /** A property's value: the OS environment first, then the config trees (names compared without dashes or case). */
    Optional<String> get(String property) {
        for (String name : envNames(property)) {
            String value = env.get(name);
            if (value != null) {
                origins.put(property, "env " + name);
                return Optional.of(value);
            }
        }
        String wanted = property.replace("-", "").toLowerCase(Locale.ROOT);
        for (Map.Entry<String, String> entry : configTree.entrySet()) {
            if (entry.getKey().replace("-", "").toLowerCase(Locale.ROOT).equals(wanted)) {
                origins.put(property, origins.getOrDefault(entry.getKey(), "configtree"));
                return Optional.of(entry.getValue());
            }
        }
        return Optional.empty();
    }

    String require(String property) {
        return get(property).orElseThrow(() -> new IllegalStateException(
                "no " + property + " (environment " + String.join(" or ", envNames(property)) + ", or a configtree file named " + property + ")"));
    }

    String origin(String property) {
        return origins.getOrDefault(property, "unset");
    }

    /** spring.datasource.hikari.* properties this stand-in binds onto HikariConfig (the ones a Spring backend sets). */
    private static final Map<String, BiConsumer<HikariConfig, String>> HIKARI = new LinkedHashMap<>();

    static {
        HIKARI.put("maximum-pool-size", (c, v) -> c.setMaximumPoolSize(Integer.parseInt(v)));
        HIKARI.put("minimum-idle", (c, v) -> c.setMinimumIdle(Integer.parseInt(v)));
        HIKARI.put("connection-timeout", (c, v) -> c.setConnectionTimeout(Long.parseLong(v)));
        HIKARI.put("idle-timeout", (c, v) -> c.setIdleTimeout(Long.parseLong(v)));
        HIKARI.put("max-lifetime", (c, v) -> c.setMaxLifetime(Long.parseLong(v)));
        HIKARI.put("keepalive-time", (c, v) -> c.setKeepaliveTime(Long.parseLong(v)));
        HIKARI.put("validation-timeout", (c, v) -> c.setValidationTimeout(Long.parseLong(v)));
        HIKARI.put("leak-detection-threshold", (c, v) -> c.setLeakDetectionThreshold(Long.parseLong(v)));
        HIKARI.put("initialization-fail-timeout", (c, v) -> c.setInitializationFailTimeout(Long.parseLong(v)));
        HIKARI.put("pool-name", HikariConfig::setPoolName);
        HIKARI.put("connection-test-query", HikariConfig::setConnectionTestQuery);
        HIKARI.put("connection-init-sql", HikariConfig::setConnectionInitSql);
        HIKARI.put("schema", HikariConfig::setSchema);
        HIKARI.put("transaction-isolation", HikariConfig::setTransactionIsolation);
    }

    /** Sets every spring.datasource.hikari.* property present; returns "name=value" for the start log. */
    List<String> bindHikari(HikariConfig config) {
        List<String> bound = new ArrayList<>();
        for (Map.Entry<String, BiConsumer<HikariConfig, String>> entry : HIKARI.entrySet()) {
            String property = "spring.datasource.hikari." + entry.getKey();
            Optional<String> value = get(property);
            if (value.isEmpty()) continue;
            try {
                entry.getValue().accept(config, value.get().trim());
            } catch (NumberFormatException e) {
                throw new IllegalStateException(property + " (" + origin(property) + "): not a number: " + value.get());
            }
            bound.add(entry.getKey() + "=" + value.get().trim());
        }
        // An emitted key this stand-in does not know would be bound by Spring: say so rather than drop it silently.
        java.util.Set<String> known = new java.util.HashSet<>();
        for (String key : HIKARI.keySet()) known.addAll(envNames("spring.datasource.hikari." + key));
        for (String name : env.keySet()) {
            if (name.startsWith("SPRING_DATASOURCE_HIKARI_") && !known.contains(name)) log.warn("{} is not bound by this stand-in (Spring Boot would bind it)", name);
        }
        return bound;
    }
}
