// A generated PostgreSQL credential in Vault KV v2, built pure: the password's generator and the KV v2 secret it
// is written to. infra/vaultCredential.ts registers them (the password itself exists only in Pulumi's state, as a
// secret).
import type { Input } from "@pulumi/pulumi";

/** Length and alphabet safe unquoted in a JDBC URL, a libpq connection string and a shell variable. */
export const PASSWORD_POLICY = { length: 32, special: true, overrideSpecial: "-_.", minUpper: 2, minLower: 2, minNumeric: 2 };

/** The RandomPassword: a new password whenever `rotation` changes. */
export const passwordArgs = (rotation: string) => ({ ...PASSWORD_POLICY, keepers: { rotation } });

interface VaultSecretInputs {
    /** KV v2 mount (the store's `path`), never ending in /data. */
    mount: string;
    /** The KV v2 secret name under the mount, e.g. kubernetes/infra/cloudnative-pg/synergyflow. */
    vaultKey: string;
    /** JSON {username, password}, a Pulumi secret. */
    dataJson: Input<string>;
}

/** The KV v2 secret, its name always explicit: the ExternalSecrets' remoteRef.key is this same string. */
export function vaultSecretArgs(inputs: VaultSecretInputs) {
    return { mount: inputs.mount, name: inputs.vaultKey, dataJson: inputs.dataJson, deleteAllVersions: true };
}
