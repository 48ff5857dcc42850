// The preflight: read the live platform, decide, and either refuse with every problem at once or hand the
// program the live facts it builds on. Runs before any resource is registered, in preview, up and synth alike.
import type { SharedClusterSlots } from "./model/budget";
import type { StackConfig } from "./model/config";
import type { LiveReader } from "./model/kubeObject";
import type { LiveCluster } from "./model/rolePatch";
import { caSecretName, readLivePlatform, superuserSecretName } from "./model/preflight/livePlatform";
import { PreflightError, credentialRotation, keptLoginSecrets, preflightProblems, sharedClusterSlots } from "./model/preflight/rules";
import type { RotationPlan } from "./model/rotation";
import { type MigrationRecord, readMigrationRecord } from "./model/migration/phases";

/** What the program takes from the live platform (infra side only; undefined in split mode). */
export interface PlatformFacts {
    cluster: LiveCluster;
    slots: SharedClusterSlots;
    superuserSecretName: string;
    caSecretName: string;
    /** The PEM certificate of the cluster's CA: public, delivered to the apps cluster for verify-ca/full. */
    serverCaCertificate: string;
    /** spec.certificates.serverAltDNSNames: names the server certificate carries besides the Services'. */
    serverAltDnsNames: string[];
    /** Which login role the backend uses after this run, and which passwords it regenerates (rotation.ts). */
    rotation: RotationPlan;
    /** Login role password Secrets an earlier `retain` destroy kept: this run adopts them with new passwords. */
    keptLoginSecrets: string[];
    /** The migration's last record and the source's CA certificate (components/migration/). */
    migration: { record?: MigrationRecord; sourceCaCertificate: string };
}

export async function runPreflight(config: StackConfig, reader: LiveReader, stack: string): Promise<PlatformFacts | undefined> {
    const live = await readLivePlatform(config, reader, stack);
    const problems = preflightProblems(config, live);
    if (problems.length > 0) throw new PreflightError(problems);
    if (config.infraStack || !live.cluster) return undefined;
    const { name } = config.sharedCluster;
    const certificates = live.cluster.spec?.["certificates"] as { serverAltDNSNames?: string[] } | undefined;
    return {
        cluster: live.cluster as unknown as LiveCluster,
        slots: sharedClusterSlots(config, live),
        superuserSecretName: superuserSecretName(live.cluster, name),
        caSecretName: caSecretName(live.cluster, name),
        serverCaCertificate: Buffer.from(live.caSecret?.data?.["ca.crt"] ?? "", "base64").toString("utf8"),
        serverAltDnsNames: certificates?.serverAltDNSNames ?? [],
        rotation: credentialRotation(config, live) as RotationPlan,
        keptLoginSecrets: keptLoginSecrets(config, live),
        migration: {
            ...(live.migration.record ? { record: readMigrationRecord(live.migration.record.data) } : {}),
            sourceCaCertificate: Buffer.from(live.migration.sourceCa?.data?.["ca.crt"] ?? "", "base64").toString("utf8"),
        },
    };
}
