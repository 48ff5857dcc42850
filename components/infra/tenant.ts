// The database side of the onboarding: credentials in Vault and their Secrets, roles, database, bootstrap SQL,
// pooler and its exposure. Its outputs are the wiring the apps side consumes.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../model/config";
import { vaultExternalSecretManifest } from "../build/externalSecret";
import { jdbcUrl, serverSslMode } from "../model/jdbc";
import { platformLabels } from "../model/labels";
import type { TenantPlan } from "../model/preflight/rules";
import type { InfraWiring } from "../wiring";
import { BootstrapJob } from "./bootstrapJob";
import { authQuery, bootstrapSqlArgs, renderBootstrapSql } from "../model/bootstrapSql";
import { TenantDatabase } from "./database";
import { TenantPooler } from "./pooler";
import { poolerAlertRules } from "../model/poolerAlerts";
import { TenantRoles } from "./role";
import { desiredRoles } from "../model/roles";
import type { CredentialFactory } from "./vaultCredential";
import { ControllerEvidence } from "../resources/controllerEvidence";
import type { EvidenceWait } from "../model/evidence";
import { CREDENTIAL_SLOTS, type CredentialSlot, ROTATION_ANNOTATIONS, credentialsVersion, loginCredentials } from "../model/rotation";

export interface InfraTenantArgs {
    config: StackConfig;
    /** The stack's name: its ownership label on every object. */
    stack: string;
    /** What the preflight read from the live platform. */
    platform: TenantPlan;
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
        const labels = platformLabels(tenant.appName, "database", args.stack);
        const poolerLabels = platformLabels(tenant.appName, "pooler", args.stack);
        const retain = tenant.roleReclaimPolicy === "retain";
        const vaultAuth = pooler.authMode === "vault";

        const logins = loginCredentials(tenant);
        const plan = platform.rotation;
        const clusters = { infra: config.infraCluster, apps: config.appsCluster };

        /** A generated credential in Vault and the basic-auth Secret CNPG reads it from. */
        const roleCredential = (
            resourceName: string,
            login: { username: string; vaultName: string; secretName: string; generation: string },
            secretLabels: Record<string, string>,
        ) => {
            const credential = credentials(`${resourceName}-credential`, { username: login.username, vaultKey: vaultKeyFor(config, login.vaultName), rotation: login.generation, retainOnDelete: retain }, { parent: this });
            const secret = new k8s.apiextensions.CustomResource(
                `${resourceName}-secret`,
                vaultExternalSecretManifest({
                    namespace,
                    storeName: externalSecrets.infraStore,
                    refreshInterval: externalSecrets.refreshInterval,
                    targetName: login.secretName,
                    // CNPG reads a password Secret (and a pooler auth Secret) of type basic-auth.
                    secretType: "kubernetes.io/basic-auth",
                    // Password changes apply at once in PostgreSQL thanks to the reload label.
                    secretLabels: { ...secretLabels, "cnpg.io/reload": "true" },
                    vaultKey: credential.vaultKey,
                    vaultVersion: credential.vaultVersion,
                    credentials: credential.vaultVersion.apply((version) => credentialsVersion(login.username, version)),
                    annotations: { [ROTATION_ANNOTATIONS.generation]: login.generation },
                    properties: { username: "username", password: "password" },
                    labels: secretLabels,
                    waitForReady: config.waitForControllers,
                    // A retained role keeps the Secret CNPG reads its password from.
                    retainSecret: retain,
                }),
                { parent: this, provider },
            );
            return { credential, secret };
        };

        // Both login roles, each with its own password; a rotation regenerates only the idle one (rotation.ts).
        const login = Object.fromEntries(
            CREDENTIAL_SLOTS.map((slot) => [
                slot,
                roleCredential(`${name}-login-${slot}`, { username: logins[slot].roleName, vaultName: logins[slot].vaultName, secretName: logins[slot].passwordSecretName, generation: plan.generations[slot] }, labels),
            ]),
        ) as Record<CredentialSlot, ReturnType<typeof roleCredential>>;
        const secretsReady: pulumi.Resource[] = CREDENTIAL_SLOTS.map((slot) => login[slot].secret);
        let auth: { secretName: string; query: string } | undefined;
        if (vaultAuth) {
            // A dedicated role for PgBouncer's auth_user: never an application role. A single credential cannot
            // rotate without failed logins, so tenant.passwordRotation does not regenerate it.
            secretsReady.push(
                roleCredential(`${name}-pooler-auth`, { username: pooler.authRoleName, vaultName: `${tenant.appName}-pooler-auth`, secretName: pooler.authSecretName, generation: "1" }, poolerLabels).secret,
            );
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

        // Steps "infraSecret" and "postgres" of ROTATION_ORDER: both login roles' Secrets hold their Vault versions
        // and CNPG has applied them in PostgreSQL, before anything logs in with them.
        const passwordsApplied = config.waitForControllers
            ? new ControllerEvidence(
                  `${name}-passwords-applied`,
                  {
                      clusters,
                      cluster: "infra",
                      step: "login role passwords applied in PostgreSQL",
                      timeoutSeconds: config.evidenceTimeoutSeconds,
                      waits: pulumi.all(CREDENTIAL_SLOTS.map((slot) => login[slot].credential.vaultVersion)).apply((versions) =>
                          CREDENTIAL_SLOTS.flatMap((slot, i): EvidenceWait[] => [
                              { kind: "secretSynced", cluster: "infra", namespace, secretName: logins[slot].passwordSecretName, credentials: credentialsVersion(logins[slot].roleName, versions[i] as string) },
                              {
                                  kind: "passwordApplied",
                                  namespace,
                                  clusterName: sharedCluster.name,
                                  roleName: logins[slot].roleName,
                                  secretName: logins[slot].passwordSecretName,
                                  declaredBy: sharedCluster.roleStrategy === "databaseRole" ? "databaseRole" : "cluster",
                              },
                          ]),
                      ),
                  },
                  { parent: this, dependsOn: [...secretsReady, ...tenantRoles.ready] },
              )
            : undefined;
        const loginsReady: pulumi.Resource[] = [...tenantRoles.ready, ...(passwordsApplied ? [passwordsApplied] : [])];

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
                    loginRoles: CREDENTIAL_SLOTS.map((slot) => logins[slot].roleName),
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
                    // vault auth needs the superuser (the preflight checked it is enabled); operator auth runs as a
                    // login role acting as the owner of its database (always login role a: the Job need not re-run
                    // on a rotation).
                    runAs: vaultAuth ? { secretName: platform.superuserSecretName, database: "postgres" } : { secretName: logins.a.passwordSecretName, database: tenant.databaseName },
                    loginRoleSecrets: CREDENTIAL_SLOTS.map((slot) => logins[slot].passwordSecretName),
                    caSecretName: platform.caSecretName,
                    image: pooler.bootstrapImage,
                    runAsUser: pooler.bootstrapRunAsUser,
                    networkPolicies: config.networkPolicies,
                    sql: renderBootstrapSql(bootstrapSqlArgs(config)),
                    labels,
                    waitForCompletion: config.waitForControllers,
                    provider,
                    dependsOn,
                },
                { parent: this },
            );
        let tenantPooler: TenantPooler;
        let bootstrap: BootstrapJob;
        if (vaultAuth) {
            // PgBouncer's auth_query needs the lookup function the Job creates.
            bootstrap = makeBootstrap([database.database, ...loginsReady]);
            tenantPooler = makePooler([database.database, bootstrap.job]);
        } else {
            // The Job grants CONNECT to the role CNPG creates for our Pooler: the Pooler comes first.
            tenantPooler = makePooler([database.database]);
            bootstrap = makeBootstrap([database.database, ...loginsReady, tenantPooler.pooler]);
        }

        const active = login[plan.active];
        const sslMode = tenantPooler.host.apply((host) => serverSslMode(host, platform.serverAltDnsNames));
        this.roleStrategy = tenantRoles.status;
        this.wiring = {
            poolerHost: tenantPooler.host,
            poolerPort: tenantPooler.port,
            poolerServiceName: tenantPooler.serviceName,
            databaseName: pulumi.output(tenant.databaseName),
            roleName: pulumi.output(tenant.roleName),
            loginRoleName: pulumi.output(logins[plan.active].roleName),
            passwordRotation: pulumi.output(tenant.passwordRotation),
            vaultMount: pulumi.output(config.vault.kvMount),
            vaultKey: active.credential.vaultKey,
            // Through the evidence of step "postgres" and the bootstrap Job's completion: the apps side (its Secret,
            // so the backend, wait-for-db and the migration Jobs) moves only once PostgreSQL has the password and
            // the login roles' settings (role, search_path), which a session takes only when it starts.
            vaultSecretVersion: pulumi
                .all([bootstrap.job.urn, ...(passwordsApplied ? [passwordsApplied.urn] : []), active.credential.vaultVersion])
                .apply((values) => values[values.length - 1] as string),
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
