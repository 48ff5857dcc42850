// The database side of the onboarding: credentials in Vault and their Secrets, roles, database, bootstrap SQL,
// pooler and its exposure. Its outputs are the wiring the apps side consumes.
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { vaultExternalSecret } from "../externalSecret";
import { jdbcUrl } from "../jdbc";
import { platformLabels } from "../labels";
import * as k8s from "@pulumi/kubernetes";
import type { InfraWiring } from "../wiring";
import { BootstrapJob } from "./bootstrapJob";
import { authQuery, renderBootstrapSql } from "./bootstrapSql";
import { TenantDatabase } from "./database";
import { TenantPooler } from "./pooler";
import { TenantRoles, applicationRoleFields } from "./role";
import type { LiveCluster } from "./rolePatch";
import type { CredentialFactory } from "./vaultCredential";

export interface InfraTenantArgs {
    config: StackConfig;
    provider: k8s.Provider;
    /** Where the credentials come from: vaultCredentials(...) in the program. */
    credentials: CredentialFactory;
    /** Reads the live shared Cluster (clusterPatch and external strategies). */
    readLiveCluster: () => Promise<LiveCluster>;
}

/** Seconds a clusterPatch removal waits for CNPG to drop a role marked absent. */
const ROLE_DROP_TIMEOUT_SECONDS = 300;

/** Where a credential lives in Vault: `<prefix>/<name>` under the KV v2 mount. */
export function vaultKeyFor(config: StackConfig, name: string): string {
    return `${config.vault.keyPrefix}/${name}`;
}

export class InfraTenant extends pulumi.ComponentResource {
    public readonly wiring: InfraWiring;
    /** How the roles got onto the shared cluster (fails the program if an `external` role is missing). */
    public readonly roleStrategy: pulumi.Output<string>;

    constructor(name: string, args: InfraTenantArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:infra:InfraTenant", name, {}, opts);
        const { config, provider, credentials } = args;
        const { tenant, pooler, sharedCluster, externalSecrets } = config;
        const namespace = sharedCluster.namespace;
        const labels = platformLabels(tenant.appName, "database");
        const poolerLabels = platformLabels(tenant.appName, "pooler");
        const retain = tenant.roleReclaimPolicy === "retain";
        const vaultAuth = pooler.authMode === "vault";

        // The role's password: generated, written to Vault, synced into the basic-auth Secret CNPG reads.
        const credential = credentials(
            `${name}-credential`,
            { username: tenant.roleName, vaultKey: vaultKeyFor(config, tenant.appName), rotation: tenant.passwordRotation, retainOnDelete: retain },
            { parent: this },
        );
        // Password changes apply at once in PostgreSQL thanks to the reload label.
        const cnpgSecretLabels = { ...labels, "cnpg.io/reload": "true" };
        const roleSecret = vaultExternalSecret(
            `${name}-role-secret`,
            {
                namespace,
                storeName: externalSecrets.infraStore,
                refreshInterval: externalSecrets.refreshInterval,
                targetName: tenant.passwordSecretName,
                secretType: "kubernetes.io/basic-auth",
                secretLabels: cnpgSecretLabels,
                vaultKey: credential.vaultKey,
                properties: { username: "username", password: "password" },
                labels,
                waitForReady: config.waitForControllers,
            },
            { parent: this, provider: provider },
        );

        const roles = [applicationRoleFields(tenant.roleName, tenant.connectionLimit, tenant.passwordSecretName, `${tenant.appName} application role (synergyflow-db)`)];
        const secretsReady: pulumi.Resource[] = [roleSecret];
        let auth: { secretName: string; query: string } | undefined;
        if (vaultAuth) {
            // A dedicated role for PgBouncer's auth_user: never the application's role.
            const authCredential = credentials(
                `${name}-pooler-auth-credential`,
                { username: pooler.authRoleName, vaultKey: vaultKeyFor(config, `${tenant.appName}-pooler-auth`), rotation: tenant.passwordRotation, retainOnDelete: retain },
                { parent: this },
            );
            // CNPG rejects an Opaque auth secret: basic-auth, which also serves as the auth role's password Secret.
            secretsReady.push(
                vaultExternalSecret(
                    `${name}-pooler-auth-secret`,
                    {
                        namespace,
                        storeName: externalSecrets.infraStore,
                        refreshInterval: externalSecrets.refreshInterval,
                        targetName: pooler.authSecretName,
                        secretType: "kubernetes.io/basic-auth",
                        secretLabels: cnpgSecretLabels,
                        vaultKey: authCredential.vaultKey,
                        properties: { username: "username", password: "password" },
                        labels: poolerLabels,
                        waitForReady: config.waitForControllers,
                    },
                    { parent: this, provider: provider },
                ),
            );
            roles.push(applicationRoleFields(pooler.authRoleName, pooler.authRoleConnectionLimit, pooler.authSecretName, `${tenant.appName} PgBouncer auth_query role (synergyflow-db)`));
            auth = { secretName: pooler.authSecretName, query: authQuery(pooler.authFunctionSchema) };
        }

        const tenantRoles = new TenantRoles(
            `${name}-roles`,
            {
                sharedCluster,
                roles,
                reclaimPolicy: tenant.roleReclaimPolicy,
                labels,
                access: { context: config.infraCluster.context, kubeconfig: config.infraCluster.kubeconfig },
                dropTimeoutSeconds: config.waitForControllers ? ROLE_DROP_TIMEOUT_SECONDS : 0,
                readLiveCluster: args.readLiveCluster,
                provider: provider,
            },
            { parent: this, dependsOn: secretsReady },
        );

        const database = new TenantDatabase(
            `${name}-database`,
            {
                clusterName: sharedCluster.name,
                namespace,
                databaseName: tenant.databaseName,
                owner: tenant.roleName,
                schemas: tenant.schemas,
                reclaimPolicy: tenant.databaseReclaimPolicy,
                labels,
                provider: provider,
                dependsOn: tenantRoles.ready,
            },
            { parent: this },
        );

        const bootstrap = new BootstrapJob(
            `${name}-bootstrap`,
            {
                jobName: pooler.bootstrapJobName,
                namespace,
                clusterName: sharedCluster.name,
                superuserSecretName: sharedCluster.superuserSecretName,
                image: pooler.bootstrapImage,
                sql: renderBootstrapSql({
                    databaseName: tenant.databaseName,
                    tenantRole: tenant.roleName,
                    poolerAuth: vaultAuth ? { authRole: pooler.authRoleName, functionSchema: pooler.authFunctionSchema } : undefined,
                }),
                labels,
                waitForCompletion: config.waitForControllers,
                provider: provider,
                dependsOn: [database.database, ...tenantRoles.ready],
            },
            { parent: this },
        );

        const tenantPooler = new TenantPooler(
            `${name}-pooler`,
            {
                config: pooler,
                clusterName: sharedCluster.name,
                namespace,
                databaseName: tenant.databaseName,
                roleName: tenant.roleName,
                labels: poolerLabels,
                auth,
                provider: provider,
                // With vault auth the lookup function must exist before PgBouncer runs its auth_query.
                dependsOn: [database.database, bootstrap.job],
            },
            { parent: this },
        );

        this.roleStrategy = tenantRoles.status;
        this.wiring = {
            poolerHost: tenantPooler.host,
            poolerPort: tenantPooler.port,
            poolerServiceName: tenantPooler.serviceName,
            databaseName: pulumi.output(tenant.databaseName),
            roleName: pulumi.output(tenant.roleName),
            vaultMount: pulumi.output(config.vault.kvMount),
            vaultKey: credential.vaultKey,
            vaultSecretVersion: credential.vaultVersion,
            jdbcUrl: pulumi
                .all([tenantPooler.host, tenantPooler.port])
                .apply(([host, port]) => jdbcUrl({ host, port, database: tenant.databaseName, applicationName: tenant.appName })),
            infraNamespace: pulumi.output(namespace),
        };
        this.registerOutputs({ ...this.wiring });
    }
}
