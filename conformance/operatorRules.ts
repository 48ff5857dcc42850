// Rules that live in CNPG's webhook and controllers (not in its CRDs), and the wiring rules between the
// objects this program emits. Pure functions over a set of Kubernetes objects.
import { RESERVED_ROLE_NAMES, RESERVED_ROLE_PREFIXES } from "../components/model/config";
import { type CnpgOperatorVersion, cnpgParameterNameProblems } from "../components/model/poolerParameters";
import { type KubeObject, type Problem, describeObject } from "./types";

type Any = Record<string, any>;

const ACCEPTED_AUTH_SECRET_TYPES = ["kubernetes.io/basic-auth", "kubernetes.io/tls"];

/** The type of the Secret named `name` in `namespace`, from a Secret or the ExternalSecret that makes it. */
function producedSecret(objects: KubeObject[], namespace: string | undefined, name: string): { type: string; keys: string[]; producer: KubeObject } | undefined {
    for (const o of objects) {
        if (o.metadata?.namespace !== namespace) continue;
        if (o.kind === "Secret" && o.metadata?.name === name) return { type: String((o as Any)["type"] ?? "Opaque"), keys: Object.keys({ ...(o as Any)["data"], ...(o as Any)["stringData"] }), producer: o };
        const spec = (o as Any)["spec"];
        if (o.kind === "ExternalSecret" && (spec?.target?.name ?? o.metadata?.name) === name) {
            return { type: spec?.target?.template?.type ?? "Opaque", keys: (spec?.data ?? []).map((d: Any) => d.secretKey), producer: o };
        }
    }
    return undefined;
}

/** Every role CNPG would manage on the cluster: Cluster.spec.managed.roles and DatabaseRoles. */
export function declaredRoles(objects: KubeObject[]): { name: string; connectionLimit?: number; passwordSecret?: string; namespace?: string; source: string }[] {
    const roles: { name: string; connectionLimit?: number; passwordSecret?: string; namespace?: string; source: string }[] = [];
    for (const o of objects) {
        const spec = (o as Any)["spec"];
        if (o.kind === "Cluster") {
            for (const r of spec?.managed?.roles ?? []) {
                roles.push({ name: r.name, connectionLimit: r.connectionLimit, passwordSecret: r.passwordSecret?.name, namespace: o.metadata?.namespace, source: describeObject(o) });
            }
        } else if (o.kind === "DatabaseRole") {
            roles.push({ name: spec?.name, connectionLimit: spec?.connectionLimit, passwordSecret: spec?.passwordSecret?.name, namespace: o.metadata?.namespace, source: describeObject(o) });
        }
    }
    return roles;
}

/** The tenant roles a Pooler's pg_hba admits (rules that are not `reject`). */
export function hbaAdmittedRoles(pooler: KubeObject): { database: string; role: string; rule: string }[] {
    const rules: string[] = (pooler as Any)["spec"]?.pgbouncer?.pg_hba ?? [];
    return rules
        .map((rule) => rule.trim().split(/\s+/))
        .filter((fields) => fields[0]?.startsWith("host") && fields[fields.length - 1] !== "reject")
        .map((fields) => ({ database: fields[1] ?? "", role: fields[2] ?? "", rule: fields.join(" ") }));
}

/**
 * pg_hba must admit specific roles to specific databases and end with reject rules, because CNPG appends
 * `host all all 0.0.0.0/0 md5` after the user's rules.
 */
export function hbaProblems(pooler: KubeObject): string[] {
    const rules: string[] = (pooler as Any)["spec"]?.pgbouncer?.pg_hba ?? [];
    const problems: string[] = [];
    for (const admitted of hbaAdmittedRoles(pooler)) {
        if (admitted.database === "all" || admitted.role === "all") problems.push(`pg_hba rule "${admitted.rule}" admits every ${admitted.database === "all" ? "database" : "role"}`);
    }
    const rejectsRest = ["0.0.0.0/0", "::/0"].every((cidr) => rules.some((r) => new RegExp(`^host\\s+all\\s+all\\s+${cidr.replace(/[./]/g, "\\$&")}\\s+reject$`).test(r.trim())));
    if (!rejectsRest) problems.push(`pg_hba does not end with "host all all 0.0.0.0/0 reject" and "host all all ::/0 reject": CNPG's trailing "host all all ... md5" rules would admit every role of the shared cluster`);
    return problems;
}

/** Server connections of a Pooler (pods x max_db_connections) against the limit of the role it admits. */
export function poolerBudgetProblems(pooler: KubeObject, roles: ReturnType<typeof declaredRoles>): string[] {
    const spec = (pooler as Any)["spec"];
    const instances = Number(spec?.instances ?? 1);
    const maxDb = Number(spec?.pgbouncer?.parameters?.max_db_connections ?? 0);
    const problems: string[] = [];
    for (const { role } of hbaAdmittedRoles(pooler)) {
        const limit = roles.find((r) => r.name === role)?.connectionLimit;
        if (limit === undefined || limit < 0) continue;
        if (maxDb === 0) problems.push(`max_db_connections is unset (unlimited) while role ${role} has connectionLimit ${limit}`);
        else if (instances * maxDb > limit) problems.push(`${instances} pods x max_db_connections ${maxDb} = ${instances * maxDb} server connections > connectionLimit ${limit} of role ${role} (limits apply per PgBouncer pod)`);
    }
    return problems;
}

export interface OperatorRuleContext {
    /** Vault key -> the username stored there (the ExternalSecrets read `username` from it). */
    vaultUsernames?: Record<string, string>;
    /** The CNPG minor whose pooler webhook allow-list applies (the stack's sharedCluster.operatorVersion). */
    operatorVersion?: CnpgOperatorVersion;
}

export function operatorRuleProblems(objects: KubeObject[], context: OperatorRuleContext = {}): Problem[] {
    const problems: Problem[] = [];
    const add = (o: KubeObject, check: Problem["check"], message: string) => problems.push({ object: describeObject(o), check, message });
    const roles = declaredRoles(objects);

    // Reserved and duplicate role names.
    const seen = new Map<string, string>();
    for (const role of roles) {
        const o = objects.find((x) => describeObject(x) === role.source) as KubeObject;
        if (RESERVED_ROLE_NAMES.includes(role.name) || RESERVED_ROLE_PREFIXES.some((p) => role.name.startsWith(p))) add(o, "cnpg-webhook", `role name "${role.name}" is reserved (postgres, streaming_replica, pg_*, cnpg_*)`);
        const key = `${role.namespace}/${role.name}`;
        if (seen.has(key)) add(o, "cnpg-webhook", `role "${role.name}" is declared twice (also in ${seen.get(key)})`);
        seen.set(key, role.source);
    }

    // A role's password Secret: basic-auth with username and password, username equal to the role.
    for (const role of roles) {
        if (!role.passwordSecret) continue;
        const o = objects.find((x) => describeObject(x) === role.source) as KubeObject;
        const secret = producedSecret(objects, role.namespace, role.passwordSecret);
        if (!secret) continue; // owned by someone else (another tenant's Secret)
        if (secret.type !== "kubernetes.io/basic-auth") add(o, "cnpg-webhook", `password Secret ${role.passwordSecret} of role ${role.name} is ${secret.type}, CNPG needs kubernetes.io/basic-auth`);
        for (const key of ["username", "password"]) if (!secret.keys.includes(key)) add(o, "cnpg-webhook", `password Secret ${role.passwordSecret} of role ${role.name} has no "${key}" key`);
        const usernameRef = ((secret.producer as Any)["spec"]?.data ?? []).find((d: Any) => d.secretKey === "username")?.remoteRef?.key;
        const stored = usernameRef ? context.vaultUsernames?.[usernameRef] : undefined;
        if (stored !== undefined && stored !== role.name) add(o, "cnpg-webhook", `password Secret ${role.passwordSecret} would hold username "${stored}", not the role name "${role.name}"`);
    }

    for (const pooler of objects.filter((o) => o.kind === "Pooler")) {
        const spec = (pooler as Any)["spec"] ?? {};
        const pgbouncer = spec.pgbouncer ?? {};
        for (const p of cnpgParameterNameProblems(Object.keys(pgbouncer.parameters ?? {}), context.operatorVersion ?? "1.27")) add(pooler, "cnpg-webhook", `parameter ${p.parameter} ${p.message}`);
        for (const [name, value] of Object.entries(pgbouncer.parameters ?? {})) if (typeof value !== "string") add(pooler, "cnpg-webhook", `parameter ${name} must be a string, is ${JSON.stringify(value)}`);
        const hasSecret = Boolean(pgbouncer.authQuerySecret?.name);
        if (hasSecret && !pgbouncer.authQuery) add(pooler, "cnpg-webhook", "authQuerySecret is set without authQuery (they go together)");
        if (!hasSecret && pgbouncer.authQuery) add(pooler, "cnpg-webhook", "authQuery is set without authQuerySecret (they go together)");
        if (hasSecret) {
            const secret = producedSecret(objects, pooler.metadata?.namespace, pgbouncer.authQuerySecret.name);
            if (secret && !ACCEPTED_AUTH_SECRET_TYPES.includes(secret.type)) add(pooler, "cnpg-webhook", `auth secret ${pgbouncer.authQuerySecret.name} is ${secret.type}; CNPG accepts only ${ACCEPTED_AUTH_SECRET_TYPES.join(" or ")}`);
        }
        if (spec.cluster?.name === pooler.metadata?.name) add(pooler, "cnpg-webhook", "the Pooler cannot have the same name as its Cluster");
        for (const message of hbaProblems(pooler)) add(pooler, "wiring", message);
        for (const message of poolerBudgetProblems(pooler, roles)) add(pooler, "wiring", message);
    }

    // The backend's JDBC URL must point at the pooler as exposed, never at a made-up -rw Service.
    const poolerNames = objects.filter((o) => o.kind === "Pooler").map((o) => o.metadata?.name ?? "");
    for (const cm of objects.filter((o) => o.kind === "ConfigMap")) {
        const url = (cm as Any)["data"]?.SPRING_DATASOURCE_URL as string | undefined;
        if (!url) continue;
        const host = /^jdbc:postgresql:\/\/\[?([^/:\]]+)/.exec(url)?.[1] ?? "";
        const service = host.split(".")[0] ?? "";
        if (/-rw$/.test(service)) add(cm, "wiring", `JDBC URL host ${host} names a "-rw" Service: CNPG names the pooler's Service exactly like the Pooler (${poolerNames.join(", ") || "none emitted"})`);
        else if (host.includes(".svc") && poolerNames.length > 0 && !poolerNames.includes(service)) add(cm, "wiring", `JDBC URL host ${host} is no Pooler's Service (${poolerNames.join(", ")})`);
        if (/[?&](currentSchema|options)=/.test(url)) add(cm, "wiring", "JDBC URL sets currentSchema/options, which transaction pooling drops");
    }
    return problems;
}
