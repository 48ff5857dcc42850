// The database side of the onboarding: credentials in Vault and their Secrets, roles, database, bootstrap SQL,
// pooler and its exposure. Its outputs are the wiring the apps side consumes.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { vaultExternalSecret } from "../externalSecret";
import { jdbcUrl, serverSslMode } from "../jdbc";
import { platformLabels } from "../labels";
import type { PlatformFacts } from "../preflight/preflight";
import type { InfraWiring } from "../wiring";
import { BootstrapJob } from "./bootstrapJob";
import { authQuery, bootstrapSqlArgs, renderBootstrapSql } from "./bootstrapSql";
import { TenantDatabase } from "./database";
import { TenantPooler } from "./pooler";
import { poolerAlertRules } from "./poolerAlerts";
import { TenantRoles, desiredRoles } from "./role";
import type { CredentialFactory } from "./vaultCredential";

export interface InfraTenantArgs {
    config: StackConfig;
    /** What the preflight read from the live platform. */
    platform: PlatformFacts;
    provider: k8s.Provider;
    /** Where the credentials come from: vaultCredentials(...) in the program. */
    credentials: CredentialFactory;
}

/** Seconds a clusterPatch removal waits for CNPG to drop a role marked absent. */
const ROLE_DROP_TIMEOUT_SECONDS = 300;

/** Where a credential lives in Vault: `<prefix>/<name>` under the KV v2 mount. */
export function vaultKeyFor(config: StackConfig, name: string): string {
    return `${config.vault.keyPrefix}/${name}`;
}

export class InfraTenant extends pulumi.ComponentResource {
    public readonly wiring: InfraWiring;
    /** How the roles got onto the shared cluster. */
    public readonly roleStrategy: string;

    constructor(name: string, args: InfraTenantArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:infra:InfraTenant", name, {}, opts);
        const { config, platform, provider, credentials } = args;
        const { tenant, pooler, sharedCluster, externalSecrets } = config;
        const namespace = sharedCluster.namespace;
        const labels = platformLabels(tenant.appName, "database");
        const poolerLabels = platformLabels(tenant.appName, "pooler");
        const retain = tenant.roleReclaimPolicy === "retain";
        const vaultAuth = pooler.authMode === "vault";

        /**
         * A generated credential in Vault and the basic-auth Secret CNPG reads it from. The resource names are
         * those of earlier versions: a renamed credential would be re-created, and deleting the old one would
         * delete the Vault key the new one just wrote.
         */
        const roleCredential = (resourceNames: { credential: string; secret: string }, username: string, vaultName: string, secretName: string, secretLabels: Record<string, string>) => {
            const credential = credentials(resourceNames.credential, { username, vaultKey: vaultKeyFor(config, vaultName), rotation: tenant.passwordRotation, retainOnDelete: retain }, { parent: this });
            const secret = vaultExternalSecret(
                resourceNames.secret,
                {
                    namespace,
                    storeName: externalSecrets.infraStore,
                    refreshInterval: externalSecrets.refreshInterval,
                    targetName: secretName,
                    // CNPG reads a password Secret (and a pooler auth Secret) of type basic-auth.
                    secretType: "kubernetes.io/basic-auth",
                    // Password changes apply at once in PostgreSQL thanks to the reload label.
                    secretLabels: { ...secretLabels, "cnpg.io/reload": "true" },
                    vaultKey: credential.vaultKey,
                    vaultVersion: credential.vaultVersion,
                    properties: { username: "username", password: "password" },
                    labels: secretLabels,
                    waitForReady: config.waitForControllers,
                    // A retained role keeps the Secret CNPG reads its password from.
                    retainSecret: retain,
                },
                { parent: this, provider },
            );
            return { credential, secret };
        };

        const app = roleCredential({ credential: `${name}-credential`, secret: `${name}-role-secret` }, tenant.roleName, tenant.appName, tenant.passwordSecretName, labels);
        const secretsReady: pulumi.Resource[] = [app.secret];
        let auth: { secretName: string; query: string } | undefined;
        if (vaultAuth) {
            // A dedicated role for PgBouncer's auth_user: never the application's role.
            secretsReady.push(roleCredential({ credential: `${name}-pooler-auth-credential`, secret: `${name}-pooler-auth-secret` }, pooler.authRoleName, `${tenant.appName}-pooler-auth`, pooler.authSecretName, poolerLabels).secret);
            auth = { secretName: pooler.authSecretName, query: authQuery(pooler.authFunctionSchema) };
        }

        const tenantRoles = new TenantRoles(
            `${name}-roles`,
            {
                sharedCluster,
                roles: desiredRoles(config),
                reclaimPolicy: tenant.roleReclaimPolicy,
                labels,
                access: { context: config.infraCluster.context, kubeconfig: config.infraCluster.kubeconfig },
                dropTimeoutSeconds: config.waitForControllers ? ROLE_DROP_TIMEOUT_SECONDS : 0,
                provider,
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
                provider,
                dependsOn: tenantRoles.ready,
            },
            { parent: this },
        );

        const makePooler = (dependsOn: pulumi.Resource[]) =>
            new TenantPooler(
                `${name}-pooler`,
                {
                    config: pooler,
                    clusterName: sharedCluster.name,
                    namespace,
                    databaseName: tenant.databaseName,
                    roleName: tenant.roleName,
                    labels: poolerLabels,
                    auth,
                    alertRules: poolerAlertRules(config),
                    provider,
                    dependsOn,
                },
                { parent: this },
            );
        const makeBootstrap = (dependsOn: pulumi.Resource[]) =>
            new BootstrapJob(
                `${name}-bootstrap`,
                {
                    jobName: pooler.bootstrapJobName,
                    namespace,
                    clusterName: sharedCluster.name,
                    // vault auth needs the superuser (the preflight checked it is enabled); operator auth runs as
                    // the tenant role, the owner of its database.
                    runAs: vaultAuth ? { secretName: platform.superuserSecretName, database: "postgres" } : { secretName: tenant.passwordSecretName, database: tenant.databaseName },
                    caSecretName: platform.caSecretName,
                    image: pooler.bootstrapImage,
                    sql: renderBootstrapSql(bootstrapSqlArgs(config)),
                    labels,
                    waitForCompletion: config.waitForControllers,
                    provider,
                    dependsOn,
                },
                { parent: this },
            );
        let tenantPooler: TenantPooler;
        if (vaultAuth) {
            // PgBouncer's auth_query needs the lookup function the Job creates.
            const bootstrap = makeBootstrap([database.database, ...tenantRoles.ready]);
            tenantPooler = makePooler([database.database, bootstrap.job]);
        } else {
            // The Job grants CONNECT to the role CNPG creates for our Pooler: the Pooler comes first.
            tenantPooler = makePooler([database.database]);
            makeBootstrap([database.database, ...tenantRoles.ready, tenantPooler.pooler]);
        }

        const sslMode = tenantPooler.host.apply((host) => serverSslMode(host, platform.serverAltDnsNames));
        this.roleStrategy = tenantRoles.status;
        this.wiring = {
            poolerHost: tenantPooler.host,
            poolerPort: tenantPooler.port,
            poolerServiceName: tenantPooler.serviceName,
            databaseName: pulumi.output(tenant.databaseName),
            roleName: pulumi.output(tenant.roleName),
            vaultMount: pulumi.output(config.vault.kvMount),
            vaultKey: app.credential.vaultKey,
            vaultSecretVersion: app.credential.vaultVersion,
            jdbcUrl: pulumi
                .all([tenantPooler.host, tenantPooler.port, sslMode])
                .apply(([host, port, mode]) => jdbcUrl({ host, port, database: tenant.databaseName, applicationName: tenant.appName, sslMode: mode })),
            infraNamespace: pulumi.output(namespace),
            sslMode,
            serverCaCertificate: pulumi.output(platform.serverCaCertificate),
        };
        this.registerOutputs({ ...this.wiring });
    }
}
