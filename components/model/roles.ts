// The roles the program declares on the shared cluster, as CNPG should hold them: pure functions, read by the
// components, the budget, the preflight and the tests (no Pulumi import, so plain scripts may use them too).
import type { StackConfig } from "./config";
import type { CnpgRoleFields } from "./crds";
import { type LiveCluster, sameRole } from "./rolePatch";
import { CREDENTIAL_SLOTS, loginCredentials } from "./rotation";

/** A login role with nothing but what an application needs: CNPG defaults login to false, so it is set. */
export function applicationRoleFields(name: string, connectionLimit: number, passwordSecretName: string, comment: string, inRoles?: string[]): CnpgRoleFields {
    return {
        name,
        ensure: "present",
        comment,
        login: true,
        inherit: true,
        connectionLimit,
        superuser: false,
        createdb: false,
        createrole: false,
        replication: false,
        bypassrls: false,
        ...(inRoles ? { inRoles } : {}),
        passwordSecret: { name: passwordSecretName },
    };
}

/** The tenant's owner role: owns the database and the schemas, never logs in (its login roles act as it). */
export function ownerRoleFields(config: StackConfig): CnpgRoleFields {
    const { tenant } = config;
    return {
        name: tenant.roleName,
        ensure: "present",
        comment: `${tenant.appName} owner role, no login (synergyflow-db)`,
        login: false,
        inherit: true,
        // NOLOGIN already keeps it out; -1 is CNPG's default, which a 0 turns into on the way in (omitempty), so
        // anything else reads back as drift on every refresh.
        connectionLimit: -1,
        superuser: false,
        createdb: false,
        createrole: false,
        replication: false,
        bypassrls: false,
    };
}

/** The roles the program declares on the shared cluster, exactly as CNPG should hold them. */
export function desiredRoles(config: StackConfig): CnpgRoleFields[] {
    const { tenant, pooler } = config;
    const logins = loginCredentials(tenant);
    const roles = [
        ownerRoleFields(config),
        ...CREDENTIAL_SLOTS.map((slot) =>
            applicationRoleFields(logins[slot].roleName, tenant.connectionLimit, logins[slot].passwordSecretName, `${tenant.appName} application login role ${slot} (synergyflow-db)`, [tenant.roleName]),
        ),
    ];
    if (pooler.authMode === "vault") {
        roles.push(applicationRoleFields(pooler.authRoleName, pooler.authRoleConnectionLimit, pooler.authSecretName, `${tenant.appName} PgBouncer auth_query role (synergyflow-db)`));
    }
    return roles;
}

/** What is wrong with the live Cluster's entries for our roles, for the `external` strategy. */
export function externalRoleProblems(cluster: LiveCluster, desired: CnpgRoleFields[]): string[] {
    const roles = cluster.spec.managed?.roles ?? [];
    const where = `Cluster ${cluster.metadata.namespace ?? ""}/${cluster.metadata.name} spec.managed.roles`;
    return desired.flatMap((role) => {
        const live = roles.find((r) => r["name"] === role.name);
        if (!live) return [`${where} has no entry for role ${JSON.stringify(role.name)}`];
        if (sameRole(live, role)) return [];
        const fields = Object.keys(role).filter((k) => JSON.stringify(live[k]) !== JSON.stringify((role as unknown as Record<string, unknown>)[k]));
        return [`${where} entry ${JSON.stringify(role.name)} differs in ${fields.map((f) => `${f} (live ${JSON.stringify(live[f])}, expected ${JSON.stringify((role as unknown as Record<string, unknown>)[f])})`).join(", ")}`];
    });
}
