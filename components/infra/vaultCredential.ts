// A generated PostgreSQL credential kept in Vault KV v2: the single source of truth for both clusters.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as vault from "@pulumi/vault";
import type { InfraProviders } from "../providers";

export interface VaultCredentialArgs {
    username: string;
    /** KV v2 mount (the store's `path`), never ending in /data. */
    mount: string;
    /** The KV v2 secret name under the mount, e.g. kubernetes/infra/cloudnative-pg/synergyflow. */
    vaultKey: string;
    /** Changing it generates a new password. */
    rotation: string;
    /** Keep the Vault secret on destroy (the role it opens is retained too). */
    retainOnDelete: boolean;
    providers: Pick<InfraProviders, "vault" | "random">;
}

/** Length and alphabet safe unquoted in a JDBC URL, a libpq connection string and a shell variable. */
export const PASSWORD_POLICY = { length: 32, special: true, overrideSpecial: "-_.", minUpper: 2, minLower: 2, minNumeric: 2 };

export class VaultCredential extends pulumi.ComponentResource {
    public readonly vaultKey: pulumi.Output<string>;
    /** KV v2 version of the secret: bumps on every write, so consumers can roll out on rotation. */
    public readonly vaultVersion: pulumi.Output<string>;
    public readonly password: pulumi.Output<string>;

    constructor(name: string, args: VaultCredentialArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:infra:VaultCredential", name, {}, opts);

        const password = new random.RandomPassword(
            `${name}-password`,
            { ...PASSWORD_POLICY, keepers: { rotation: args.rotation } },
            { parent: this, provider: args.providers.random },
        );
        this.password = pulumi.secret(password.result);

        const secret = new vault.kv.SecretV2(
            `${name}-vault`,
            {
                mount: args.mount,
                // Always explicit: the ExternalSecrets' remoteRef.key is this same string.
                name: args.vaultKey,
                dataJson: pulumi.secret(pulumi.jsonStringify({ username: args.username, password: password.result })),
                deleteAllVersions: true,
            },
            { parent: this, provider: args.providers.vault, retainOnDelete: args.retainOnDelete },
        );
        this.vaultKey = secret.name;
        this.vaultVersion = secret.metadata.apply((m) => String(m?.["version"] ?? "0"));

        this.registerOutputs({ vaultKey: this.vaultKey, vaultVersion: this.vaultVersion });
    }
}
