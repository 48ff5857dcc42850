// The source database's extensions, as the stack declares them (migration.extensions: name -> who creates it on
// the target), and the preview's refusal of one the copy cannot create.
//
// Why a declaration and not a live read: the preview runs outside the clusters, and the source is reachable only
// in the apps cluster (its -rw Service; the copy Job runs there for that reason); no Kubernetes object lists the
// extensions an application created with SQL. So the stack says what the source has, the preview refuses what the
// copy could not create, and the copy checks the declaration against the live source before it changes anything
// (an undeclared extension refuses the copy, naming it), and against the target (available, trusted, or there).
import type { Problem } from "../problem";

/** Who creates an extension on the target: the copy (as the tenant's owner: trusted extensions only), or the platform beforehand. */
export type ExtensionCreator = "copy" | "platform";
export type ExtensionPlan = Record<string, ExtensionCreator>;

/** Rows per checksum chunk: 1 M rows x 32-byte md5s = 32 MB per string_agg (PostgreSQL's limit on a value is 1 GB). */
export const DEFAULT_CHUNK_ROWS = 1_000_000;
/**
 * Bytes per large-object hash chunk: lo_get(oid, offset, 16 MiB) at a time. A large object may hold up to 4 TB, but a
 * function returns at most 1 GB (lo_get(oid) of a larger one fails: "large object read request is too large").
 */
export const DEFAULT_LARGE_OBJECT_CHUNK_BYTES = 16 * 1024 * 1024;
/** How long the copy waits for the sessions it ended to go (termination is asynchronous). */
export const SESSIONS_GONE_SECONDS = 30;

/**
 * The extensions PostgreSQL 16's contrib marks `trusted = true` in their control files: a database owner with CREATE
 * on the database may create them without superuser. (integration/migration.itest.ts reads the control files of
 * the real 16.8 build and compares.) Anything else needs a superuser: on the platform, CNPG's Database
 * `spec.extensions` (run by the operator) or the platform team.
 */
export const TRUSTED_EXTENSIONS_PG16: readonly string[] = [
    "btree_gin",
    "btree_gist",
    "citext",
    "cube",
    "dict_int",
    "fuzzystrmatch",
    "hstore",
    "intarray",
    "isn",
    "lo",
    "ltree",
    "pg_trgm",
    "pgcrypto",
    // Procedural languages PostgreSQL trusts; whether the shared cluster's image ships them the copy checks.
    "bool_plperl",
    "jsonb_plperl",
    "plperl",
    "pltcl",
    "seg",
    "tablefunc",
    "tcn",
    "tsm_system_rows",
    "tsm_system_time",
    "unaccent",
    "uuid-ossp",
];

/** The preview's refusals: an extension declared "copy" that the owner cannot create on the shared cluster. */
export function extensionProblems(plan: ExtensionPlan, databaseName: string): Problem[] {
    const untrusted = Object.keys(plan)
        .filter((name) => plan[name] === "copy" && !TRUSTED_EXTENSIONS_PG16.includes(name))
        .sort();
    if (!untrusted.length) return [];
    return [
        {
            key: "migration.extensions",
            message: `the copy cannot create ${untrusted.map((n) => JSON.stringify(n)).join(", ")} on the shared cluster: ${untrusted.length === 1 ? "it is" : "they are"} not a trusted extension of PostgreSQL 16, so only a superuser may create ${untrusted.length === 1 ? "it" : "them"} (the copy runs as the tenant's owner)`,
            remedy: `ask the platform team to create ${untrusted.length === 1 ? "it" : "them"} in database ${databaseName} of the shared cluster (CNPG's Database spec.extensions, schema public), then declare ${untrusted.map((n) => `${JSON.stringify(n)}: "platform"`).join(", ")} in migration.extensions; or drop ${untrusted.length === 1 ? "it" : "them"} from the source`,
        },
    ];
}
