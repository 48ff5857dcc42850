// The result a Job reports in its pod's termination message (one JSON line), read once the Job has finished:
// a dynamic resource whose outputs are that result, so `pulumi stack output` shows it. This resource is the only
// wait on the Job (the Job itself skips the provider's await): a failed Job fails the update with the pod's
// message (terminationMessagePolicy FallbackToLogsOnError: the log's end when the script wrote none) and the
// command that runs it again, since the Job never retries on its own.
import * as pulumi from "@pulumi/pulumi";
import { secretClusters } from "./secretAccess";
import { type ClusterSide, type KubeAccess, type KubeObject, type LiveReader } from "../model/kubeObject";
import { kubeLiveReader } from "../live/kubeObjects";
import { pollUntil } from "../live/poll";

export interface JobResultState {
    clusters: Record<ClusterSide, KubeAccess>;
    cluster: ClusterSide;
    namespace: string;
    jobName: string;
    timeoutSeconds: number;
    /** The command that runs the Job again after it failed (said in the failure). */
    rerun: string;
    /** The Job's JSON result (outputs only). */
    result?: Record<string, unknown>;
}

/** The finished Job's outcome from the Job and its pods: undefined while it runs. */
export function jobOutcome(job: KubeObject | undefined, pods: KubeObject[]): { succeeded: boolean; message: string } | undefined {
    const conditions = ((job?.status?.["conditions"] ?? []) as { type: string; status: string; reason?: string; message?: string }[]).filter((c) => c.status === "True");
    const done = conditions.find((c) => c.type === "Complete" || c.type === "Failed");
    if (!done) return undefined;
    const messages = pods.flatMap((pod) => ((pod.status?.["containerStatuses"] ?? []) as { state?: { terminated?: { message?: string } } }[]).map((c) => c.state?.terminated?.message?.trim() ?? "")).filter(Boolean);
    // No pod message (a deadline killed it, or its pod is gone): the Job's own condition says why.
    const fromJob = [done.reason, done.message].filter(Boolean).join(": ");
    return { succeeded: done.type === "Complete", message: messages[messages.length - 1] ?? fromJob };
}

export function jobResultProvider(connect: (clusters: Record<ClusterSide, KubeAccess>) => LiveReader, pollIntervalMs = 500): pulumi.dynamic.ResourceProvider {
    async function wait(state: JobResultState): Promise<JobResultState> {
        const reader = connect(state.clusters);
        const job = `Job ${state.namespace}/${state.jobName} on the ${state.cluster} cluster`;
        const outcome = await pollUntil(
            async () => {
                const live = await reader.get({ cluster: state.cluster, apiVersion: "batch/v1", kind: "Job", namespace: state.namespace, name: state.jobName });
                const pods = ((await reader.list(state.cluster, "v1", "Pod", state.namespace)) ?? []).filter((p) => p.metadata.labels?.["job-name"] === state.jobName);
                return jobOutcome(live, pods);
            },
            {
                timeoutSeconds: state.timeoutSeconds,
                intervalMs: pollIntervalMs,
                timedOut: () => new Error(`${job} has not finished within ${state.timeoutSeconds}s; it is left running: check its pod's log (kubectl --context ${state.cluster} -n ${state.namespace} logs job/${state.jobName})`),
            },
        );
        if (!outcome.succeeded) throw new Error(`${job} failed: ${outcome.message || "(no message)"}\nIt is not retried on its own; to run it again: ${state.rerun}`);
        let result: Record<string, unknown>;
        try {
            result = JSON.parse(outcome.message) as Record<string, unknown>;
        } catch {
            result = { message: outcome.message };
        }
        return { ...state, result };
    }
    return {
        async create(inputs: JobResultState) {
            return { id: `${inputs.namespace}/${inputs.jobName}`, outs: await wait(inputs) };
        },
        async diff(_id: string, olds: JobResultState, news: JobResultState) {
            return { changes: olds.jobName !== news.jobName || olds.namespace !== news.namespace, replaces: ["jobName"] };
        },
    };
}

export interface JobResultArgs {
    clusters: Record<ClusterSide, KubeAccess>;
    cluster: ClusterSide;
    namespace: string;
    jobName: pulumi.Input<string>;
    timeoutSeconds: number;
    rerun: pulumi.Input<string>;
}

export class JobResult extends pulumi.dynamic.Resource {
    declare public readonly result: pulumi.Output<Record<string, unknown>>;

    constructor(name: string, args: JobResultArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            jobResultProvider(kubeLiveReader),
            name,
            { clusters: secretClusters(args.clusters), cluster: args.cluster, namespace: args.namespace, jobName: args.jobName, timeoutSeconds: args.timeoutSeconds, rerun: args.rerun, result: undefined },
            opts,
            "synergyflow-db",
            "JobResult",
        );
    }
}
