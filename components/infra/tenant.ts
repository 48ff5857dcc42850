// The database side of the onboarding, registered: credentials in Vault and their Secrets, roles, database,
// bootstrap SQL, pooler and its exposure, as build/infraTenant.ts decided them. Its outputs are the wiring the apps
// side consumes.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { type InfraTenantInputs, type TenantCredential, credentialExternalSecret, passwordsAppliedWaits } from "../build/infraTenant";
import { jdbcUrl, serverSslMode } from "../model/jdbc";
import type { InfraWiring } from "../wiring";
import { BootstrapJob } from "./bootstrapJob";
import { TenantDatabase } from "./database";
import { TenantPooler } from "./pooler";
import { TenantRoles } from "./role";
import type { CredentialFactory } from "./vaultCredential";
import { ControllerEvidence } from "../resources/controllerEvidence";
import { CREDENTIAL_SLOTS, type CredentialSlot, credentialsVersion } from "../model/rotation";

export interface InfraTenantArgs {
    /** What to emit (build/infraTenant.ts infraTenantInputs). */
    tenant: InfraTenantInputs;
    provider: k8s.Provider;
    /** Where the credentials come from: vaultCredentials(...) in the program. */
    credentials: CredentialFactory;
}

export class InfraTenant extends pulumi.ComponentResource {
    public readonly wiring: InfraWiring;
    /** How the roles got onto the shared cluster. */
    public readonly roleStrategy: string;

    constructor(name: string, args: InfraTenantArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:infra:InfraTenant", name, {}, opts);
        const { tenant, provider, credentials } = args;

        /** A generated credential in Vault and the basic-auth Secret CNPG reads it from. */
        const roleCredential = (credential: TenantCredential) => {
            const resourceName = `${name}-${credential.name}`;
            const stored = credentials(`${resourceName}-credential`, { username: credential.username, vaultKey: credential.vaultKey, rotation: credential.generation, retainOnDelete: tenant.retain }, { parent: this });
            const secret = new k8s.apiextensions.CustomResource(
                `${resourceName}-secret`,
                credentialExternalSecret(tenant, credential, {
                    vaultKey: stored.vaultKey,
                    vaultVersion: stored.vaultVersion,
                    credentials: stored.vaultVersion.apply((version) => credentialsVersion(credential.username, version)),
                }),
                { parent: this, provider },
            );
            return { credential: stored, secret };
        };

        // Both login roles, each with its own password; a rotation regenerates only the idle one (rotation.ts).
        const login = Object.fromEntries(CREDENTIAL_SLOTS.map((slot) => [slot, roleCredential(tenant.logins[slot])])) as Record<CredentialSlot, ReturnType<typeof roleCredential>>;
        const secretsReady: pulumi.Resource[] = CREDENTIAL_SLOTS.map((slot) => login[slot].secret);
        if (tenant.poolerAuth) secretsReady.push(roleCredential(tenant.poolerAuth).secret);
        const tenantRoles = new TenantRoles(`${name}-roles`, { ...tenant.roles, provider }, { parent: this, dependsOn: secretsReady });

        // Steps "infraSecret" and "postgres" of ROTATION_ORDER (build/infraTenant.ts passwordsAppliedWaits).
        const passwordsApplied = tenant.evidence
            ? new ControllerEvidence(
                  `${name}-passwords-applied`,
                  {
                      clusters: tenant.evidence.clusters,
                      cluster: "infra",
                      step: "login role passwords applied in PostgreSQL",
                      timeoutSeconds: tenant.evidence.timeoutSeconds,
                      waits: pulumi.all(CREDENTIAL_SLOTS.map((slot) => login[slot].credential.vaultVersion)).apply((versions) => passwordsAppliedWaits(tenant, Object.fromEntries(CREDENTIAL_SLOTS.map((slot, i) => [slot, versions[i] as string])) as Record<CredentialSlot, string>)),
                  },
                  { parent: this, dependsOn: [...secretsReady, ...tenantRoles.ready] },
              )
            : undefined;
        const loginsReady: pulumi.Resource[] = [...tenantRoles.ready, ...(passwordsApplied ? [passwordsApplied] : [])];

        const database = new TenantDatabase(`${name}-database`, { ...tenant.database, provider, dependsOn: tenantRoles.ready }, { parent: this });

        const makePooler = (dependsOn: pulumi.Resource[]) => new TenantPooler(`${name}-pooler`, { ...tenant.pooler, provider, dependsOn }, { parent: this });
        const makeBootstrap = (dependsOn: pulumi.Resource[]) => new BootstrapJob(`${name}-bootstrap`, { ...tenant.bootstrap, provider, dependsOn }, { parent: this });
        let tenantPooler: TenantPooler;
        let bootstrap: BootstrapJob;
        if (tenant.bootstrapBeforePooler) {
            bootstrap = makeBootstrap([database.database, ...loginsReady]);
            tenantPooler = makePooler([database.database, bootstrap.job]);
        } else {
            tenantPooler = makePooler([database.database]);
            bootstrap = makeBootstrap([database.database, ...loginsReady, tenantPooler.pooler]);
        }

        const { wiring } = tenant;
        const active = login[tenant.active];
        const sslMode = tenantPooler.host.apply((host) => serverSslMode(host, wiring.serverAltDnsNames));
        this.roleStrategy = tenantRoles.status;
        this.wiring = {
            poolerHost: tenantPooler.host,
            poolerPort: tenantPooler.port,
            poolerServiceName: tenantPooler.serviceName,
            databaseName: pulumi.output(wiring.databaseName),
            roleName: pulumi.output(wiring.roleName),
            loginRoleName: pulumi.output(tenant.logins[tenant.active].username),
            passwordRotation: pulumi.output(wiring.passwordRotation),
            vaultMount: pulumi.output(wiring.vaultMount),
            vaultKey: active.credential.vaultKey,
            // Through the evidence of step "postgres" and the bootstrap Job's completion: the apps side (its Secret,
            // so the backend, wait-for-db and the migration Jobs) moves only once PostgreSQL has the password and
            // the login roles' settings (role, search_path), which a session takes only when it starts.
            vaultSecretVersion: pulumi
                .all([bootstrap.job.urn, ...(passwordsApplied ? [passwordsApplied.urn] : []), active.credential.vaultVersion])
                .apply((values) => values[values.length - 1] as string),
            jdbcUrl: pulumi
                .all([tenantPooler.host, tenantPooler.port, sslMode])
                .apply(([host, port, mode]) => jdbcUrl({ host, port, database: wiring.databaseName, applicationName: wiring.appName, sslMode: mode })),
            infraNamespace: pulumi.output(tenant.namespace),
            sslMode,
            serverCaCertificate: pulumi.output(wiring.serverCaCertificate),
        };
        this.registerOutputs({ ...this.wiring });
    }
}
