// A step of the rotation that cannot proceed on hope: a dynamic resource whose create/update polls the live
// objects until every wait (evidence.ts) is met, or fails after its timeout naming what is missing. Nothing
// is written; `pulumi refresh` leaves it alone. Its inputs change only when a wait does (a new Vault version).
import * as pulumi from "@pulumi/pulumi";
import { type EvidenceWait, evidenceRefs, missingEvidence } from "../model/evidence";
import { type ClusterSide, type KubeAccess, type LiveReader } from "../model/kubeObject";
import { kubeLiveReader } from "../live/kubeObjects";
import { pollUntil } from "../live/poll";
import { secretClusters } from "./secretAccess";

export interface EvidenceState {
    /** What each wait reads through: the stack's kube contexts. */
    clusters: Record<ClusterSide, KubeAccess>;
    /** The cluster whose controllers this step waits for (what the plan and synth show it against). */
    cluster: ClusterSide;
    waits: EvidenceWait[];
    timeoutSeconds: number;
    /** For messages: which step of the rotation this is. */
    step: string;
}

/** What is still missing of every wait, read once. */
export async function missingNow(reader: LiveReader, waits: EvidenceWait[]): Promise<string[]> {
    const missing = await Promise.all(waits.map(async (wait) => missingEvidence(wait, await Promise.all(evidenceRefs(wait).map((ref) => reader.get(ref))))));
    return missing.filter((m): m is string => m !== undefined);
}

/** The provider logic, given a way to read the clusters (the real client, or a fake in tests). */
export function evidenceProvider(connect: (clusters: Record<ClusterSide, KubeAccess>) => LiveReader, pollIntervalMs = 250): pulumi.dynamic.ResourceProvider {
    async function await_(state: EvidenceState): Promise<EvidenceState> {
        const reader = connect(state.clusters);
        let missing: string[] = [];
        return pollUntil(
            async () => {
                missing = await missingNow(reader, state.waits);
                return missing.length === 0 ? state : undefined;
            },
            {
                timeoutSeconds: state.timeoutSeconds,
                intervalMs: pollIntervalMs,
                timedOut: () =>
                    new Error(
                        `${state.step}: no evidence within ${state.timeoutSeconds}s that the controllers did their part: ${missing.join("; ")}. ` +
                            `Nothing after this step was changed, so the backend still uses a working password. Check the ExternalSecret's status and External Secrets' logs, ` +
                            `and the Cluster's status.managedRolesStatus (CNPG), then run \`pulumi up\` again with the same tenant.passwordRotation.`,
                    ),
            },
        );
    }
    return {
        async create(inputs: EvidenceState) {
            return { id: inputs.step, outs: await await_(inputs) };
        },
        // Only new evidence to wait for is a change: a new timeout (evidenceTimeoutSeconds) alone needs no wait.
        async diff(_id: string, olds: EvidenceState, news: EvidenceState) {
            return { changes: JSON.stringify(olds.waits) !== JSON.stringify(news.waits) };
        },
        async update(_id: string, _olds: EvidenceState, news: EvidenceState) {
            return { outs: await await_(news) };
        },
    };
}

export interface ControllerEvidenceArgs {
    clusters: Record<ClusterSide, KubeAccess>;
    cluster: ClusterSide;
    waits: pulumi.Input<EvidenceWait[]>;
    timeoutSeconds: number;
    step: string;
}

export class ControllerEvidence extends pulumi.dynamic.Resource {
    constructor(name: string, args: ControllerEvidenceArgs, opts?: pulumi.CustomResourceOptions) {
        super(evidenceProvider(kubeLiveReader), name, { clusters: secretClusters(args.clusters), cluster: args.cluster, waits: args.waits, timeoutSeconds: args.timeoutSeconds, step: args.step }, opts, "synergyflow-db", "ControllerEvidence");
    }
}
