// The migration's phases as pure decisions: which move from the last phase (recorded on the apps cluster) to the
// stack's migration.phase is allowed, and what each phase does, for the preview.
import type { Problem } from "../problem";
import type { StackConfig } from "../config";

export type MigrationPhase = NonNullable<StackConfig["migration"]>["phase"];

/** The record the last `up` left in the apps namespace (ConfigMap <appName>-db-migration). */
export interface MigrationRecord {
    phase: MigrationPhase;
    /** The copy's verification, as its Job reported it (JSON); absent until a copy finished. */
    copyResult?: { checksumsEqual?: boolean; tables?: number; rows?: number };
}

/**
 * From the phase on the left, the phases an `up` may move to. `rollback` is the way back from any failure of a
 * copy: a failed (or killed) copy records nothing, so it also follows "no migration"; its Job makes the source
 * writable (what a SIGKILL'd copy could not) and the next run puts the backend back on the dedicated cluster.
 */
const NEXT: Record<MigrationPhase | "none", MigrationPhase[]> = {
    none: ["copy", "rollback"],
    copy: ["copy", "cutover", "rollback"],
    cutover: ["cutover", "rollback", "done"],
    rollback: ["rollback", "copy"],
    done: ["done"],
};

export const PHASE_DOES: Record<MigrationPhase, string> = {
    copy: "scales the backend to 0, makes the source read-only and ends its sessions, dumps it and restores it into the tenant database in one transaction, verifies every table's rows and checksum, every sequence and object count; the source stays read-only",
    cutover: "points the datasource at the pooler and rolls the backend onto the shared database; the source stays read-only and untouched",
    rollback: "first run: scales the backend to 0, reports per table what the shared database holds that the source does not, and makes the source writable; next run: points the datasource back at the dedicated cluster with its own credentials and starts the backend",
    done: "stops referring to the source; the dedicated Cluster and its volumes are left for its owner to delete",
};

/** Whether this run may move from the recorded phase to the configured one (undefined: no migration block). */
export function phaseProblem(config: StackConfig, record: MigrationRecord | undefined): Problem | undefined {
    const next = config.migration?.phase;
    const previous = record?.phase ?? "none";
    if (next === undefined) {
        if (previous === "none" || previous === "done") return undefined;
        return {
            key: "migration.phase",
            message: `the migration block is gone while the last run left it in phase ${JSON.stringify(previous)}`,
            remedy: previous === "rollback" ? `keep phase "rollback" while the backend runs on the dedicated cluster` : `finish it: phase "cutover", then "done" (or "rollback")`,
        };
    }
    if (!NEXT[previous].includes(next)) {
        return {
            key: "migration.phase",
            message: `${JSON.stringify(next)} cannot follow ${previous === "none" ? "no migration" : `phase ${JSON.stringify(previous)}`}`,
            remedy: `allowed next: ${NEXT[previous].map((p) => JSON.stringify(p)).join(" | ")}`,
        };
    }
    if (next === "cutover" && previous === "copy" && record?.copyResult?.checksumsEqual !== true) {
        return {
            key: "migration.phase",
            message: `"cutover" needs a verified copy, but the last copy ${record?.copyResult ? `reported ${JSON.stringify(record.copyResult)}` : "left no result"}`,
            remedy: `run phase "copy" again (migration.replaceTarget true replaces the partial target)`,
        };
    }
    return undefined;
}

/** The ConfigMap's data <-> the record. */
export function readMigrationRecord(data: Record<string, string> | undefined): MigrationRecord | undefined {
    if (!data?.["phase"]) return undefined;
    let copyResult: MigrationRecord["copyResult"];
    try {
        copyResult = data["copyResult"] ? (JSON.parse(data["copyResult"]) as MigrationRecord["copyResult"]) : undefined;
    } catch {
        copyResult = undefined;
    }
    return { phase: data["phase"] as MigrationPhase, ...(copyResult ? { copyResult } : {}) };
}

/** What the apps side does in a phase: the backend's replicas, where its datasource points, which Job runs. */
export interface AppsSideDuring {
    /** 0 while copying: the writers are stopped before the source is made read-only. */
    replicas: number;
    /** rollback: the dedicated cluster and its own credentials instead of the pooler and the login role. */
    onSource: boolean;
    job?: "copy" | "rollback";
}

/**
 * copy: the backend at 0 replicas, then the copy Job. rollback takes two runs, so no write is missed: the first
 * scales the backend to 0, then its Job reports what the shared database holds beyond the source and makes the
 * source writable; the next (the record says "rollback") starts the backend on the dedicated cluster.
 */
export function appsSideDuring(config: StackConfig, record: MigrationRecord | undefined): AppsSideDuring {
    const phase = config.migration?.phase;
    const firstRollback = phase === "rollback" && record?.phase !== "rollback";
    return {
        replicas: phase === "copy" || firstRollback ? 0 : config.backend.replicas,
        onSource: phase === "rollback" && !firstRollback,
        ...(phase === "copy" ? { job: "copy" as const } : firstRollback ? { job: "rollback" as const } : {}),
    };
}

/** The source's address: the dedicated Cluster's -rw Service in the backend's namespace, or the host. */
export function sourceHost(source: NonNullable<StackConfig["migration"]>["source"]): string {
    return source.clusterName ? `${source.clusterName}-rw` : (source.host as string);
}

/** The Secret holding the CA that signed the source's certificate (CNPG's <cluster>-ca by default). */
export function sourceCaSecretName(source: NonNullable<StackConfig["migration"]>["source"]): string {
    return source.caSecretName ?? `${source.clusterName}-ca`;
}

/** The record's name in the backend's namespace. */
export const migrationRecordName = (config: StackConfig) => `${config.tenant.appName}-db-migration`;
