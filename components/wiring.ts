// What the infra side hands to the apps side: as component outputs in one stack, or as stack outputs of the
// infra stack in split mode (read through a StackReference).
import * as pulumi from "@pulumi/pulumi";

export interface InfraWiring {
    poolerHost: pulumi.Output<string>;
    poolerPort: pulumi.Output<number>;
    poolerServiceName: pulumi.Output<string>;
    databaseName: pulumi.Output<string>;
    /** The tenant's owner role (NOLOGIN). */
    roleName: pulumi.Output<string>;
    /** The login role the backend uses (rotation.ts): its credentials are at vaultKey. */
    loginRoleName: pulumi.Output<string>;
    /** tenant.passwordRotation of the infra side: recorded on the backend's ExternalSecret. */
    passwordRotation: pulumi.Output<string>;
    vaultMount: pulumi.Output<string>;
    vaultKey: pulumi.Output<string>;
    /** KV v2 version of the login role's credentials at vaultKey (each key counts its own versions). */
    vaultSecretVersion: pulumi.Output<string>;
    jdbcUrl: pulumi.Output<string>;
    infraNamespace: pulumi.Output<string>;
    /** verify-ca or verify-full, by whether the pooler's host name is in the server certificate. */
    sslMode: pulumi.Output<string>;
    /** The shared cluster's CA certificate (public), which the apps side delivers to the backend. */
    serverCaCertificate: pulumi.Output<string>;
}

export const WIRING_KEYS: (keyof InfraWiring)[] = [
    "poolerHost",
    "poolerPort",
    "poolerServiceName",
    "databaseName",
    "roleName",
    "loginRoleName",
    "passwordRotation",
    "vaultMount",
    "vaultKey",
    "vaultSecretVersion",
    "jdbcUrl",
    "infraNamespace",
    "sslMode",
    "serverCaCertificate",
];

/** Split mode: every wiring value is a required output of the infra stack, so a missing one fails clearly. */
export function wiringFromStack(infraStack: string): InfraWiring {
    const ref = new pulumi.StackReference("infra-stack", { name: infraStack });
    const wiring = {} as Record<keyof InfraWiring, pulumi.Output<unknown>>;
    for (const key of WIRING_KEYS) wiring[key] = ref.requireOutput(key);
    return wiring as unknown as InfraWiring;
}
