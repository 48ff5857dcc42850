// The one container shape that runs psql/pg_dump against PostgreSQL for this program (the bootstrap Job, the
// migration Jobs): restricted Pod Security, the server verified against a CA file, the credentials from a
// basic-auth style Secret (never on the command line), libpq configured only through PG* variables.
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
    /** The Secret with the role's username and password, and their keys in it. */
    credentials: { secretName: Input<string>; usernameKey: string; passwordKey: string };
}

/** libpq's environment for one connection: PGHOST ... PGPASSWORD (from the Secret). */
export function libpqEnv(connection: PsqlConnection, prefix = "PG"): k8s.types.input.core.v1.EnvVar[] {
    const fromSecret = (key: string) => ({ secretKeyRef: { name: connection.credentials.secretName, key } });
    return [
        { name: `${prefix}HOST`, value: connection.host },
        { name: `${prefix}PORT`, value: connection.port },
        { name: `${prefix}DATABASE`, value: connection.database },
        { name: `${prefix}SSLMODE`, value: connection.sslMode },
        { name: `${prefix}SSLROOTCERT`, value: connection.sslRootCert },
        { name: `${prefix}CONNECT_TIMEOUT`, value: "10" },
        { name: `${prefix}APPNAME`, value: connection.appName },
        { name: `${prefix}USER`, valueFrom: fromSecret(connection.credentials.usernameKey) },
        { name: `${prefix}PASSWORD`, valueFrom: fromSecret(connection.credentials.passwordKey) },
    ];
}

export interface PsqlContainerInputs {
    name: string;
    image: string;
    command: string[];
    env: k8s.types.input.core.v1.EnvVar[];
    resources: k8s.types.input.core.v1.ResourceRequirements;
    volumeMounts: k8s.types.input.core.v1.VolumeMount[];
    /** A script that writes its result to /dev/termination-log: on failure the log's end says why. */
    reportsResult?: boolean;
}

export function restrictedPsqlContainer(inputs: PsqlContainerInputs): k8s.types.input.core.v1.Container {
    return {
        name: inputs.name,
        image: inputs.image,
        command: inputs.command,
        env: inputs.env,
        ...(inputs.reportsResult ? { terminationMessagePolicy: "FallbackToLogsOnError" } : {}),
        securityContext: restrictedContainerSecurityContext,
        resources: inputs.resources,
        volumeMounts: inputs.volumeMounts,
    };
}
