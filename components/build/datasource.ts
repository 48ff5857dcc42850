// The backend's two auto-named ConfigMaps on the apps cluster, built pure (apps/appsSide.ts registers them): the
// datasource settings (model/datasource.ts, no credential) and the CA certificate its connections verify the
// server with. Without a name, each change is a new ConfigMap, so the Deployment that mounts it rolls out.
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";

interface BackendConfigMapInputs {
    namespace: string;
    labels: Record<string, string>;
}

/** The datasource settings the backend and wait-for-db read as environment variables. */
export function datasourceConfigMap(inputs: BackendConfigMapInputs & { env: Input<Record<string, string>> }): k8s.types.input.core.v1.ConfigMap {
    return { metadata: { namespace: inputs.namespace, labels: inputs.labels }, data: inputs.env };
}

/** The CA certificate (public), as the file ca.crt of the backend's server-ca volume (model/jdbc.ts SERVER_CA_FILE). */
export function serverCaConfigMap(inputs: BackendConfigMapInputs & { caCertificate: Input<string> }): k8s.types.input.core.v1.ConfigMap {
    return { metadata: { namespace: inputs.namespace, labels: inputs.labels }, data: { "ca.crt": inputs.caCertificate } };
}
