// The clusterPatch role strategy as a Pulumi dynamic resource: our entries in the shared Cluster's
// spec.managed.roles, added, updated and removed with guarded JSON Patches, read back on refresh.
import { pollUntil } from "../live/poll";
import * as pulumi from "@pulumi/pulumi";
import { withSecretKubeconfig } from "./secretAccess";
import type { CnpgRoleFields } from "../model/crds";
import { type ClusterAccessSpec, type SharedClusterApi, kubeSharedClusterApi } from "../live/clusterApi";
import {
    computeRoleAbsentPatch,
    computeRolePatch,
    computeRoleRemovalPatch,
    foreignRoleOwners,
    readRoleEntries,
    roleDropped,
    sameRole,
} from "../model/rolePatch";

export interface RolePatchState extends ClusterAccessSpec {
    roles: CnpgRoleFields[];
    /** How long delete waits for CNPG to drop a role marked absent; 0 = do not wait (no operator running). */
    dropTimeoutSeconds: number;
    /** Our entries as last read from the live Cluster: refresh updates them, so drift shows in the next preview. */
    liveRoles?: Record<string, unknown>[];
    /** Field managers other than ours that own spec.managed.roles. */
    foreignOwners?: string[];
}

/** The provider logic, given a way to reach the cluster (the real client, or a fake in tests). */
export function rolePatchProvider(
    connect: (access: ClusterAccessSpec) => Promise<SharedClusterApi>,
    pollIntervalMs = 2000,
): pulumi.dynamic.ResourceProvider {
    const names = (state: RolePatchState) => state.roles.map((r) => r.name);
    const idOf = (s: RolePatchState) => `${s.namespace}/${s.clusterName}/managed.roles/${names(s).join(",")}`;

    async function apply(state: RolePatchState): Promise<RolePatchState> {
        const api = await connect(state);
        const ops = computeRolePatch(await api.get(), state.roles);
        if (ops.length > 0) {
            try {
                await api.jsonPatch(ops);
            } catch (error) {
                throw new Error(`patching spec.managed.roles of ${state.namespace}/${state.clusterName} failed (did the list change underneath? re-run \`pulumi up\`): ${String(error)}`);
            }
        }
        const live = await api.get();
        return { ...state, liveRoles: readRoleEntries(live, names(state)), foreignOwners: foreignRoleOwners(live, state.fieldManager) };
    }

    async function remove(state: RolePatchState, roleNames: string[]): Promise<void> {
        const api = await connect(state);
        const absent = computeRoleAbsentPatch(await api.get(), roleNames);
        // A re-run (the entries already absent) patches nothing: CNPG's status is then judged as it stands.
        const afterAbsent = absent.length > 0 ? await api.jsonPatch(absent) : await api.get();
        const version = absent.length > 0 ? (afterAbsent.metadata.resourceVersion ?? "") : undefined;
        if (state.dropTimeoutSeconds > 0) {
            let current = afterAbsent;
            await pollUntil(async () => (roleNames.every((n) => roleDropped(current, n, version)) ? true : void (current = await api.get())), {
                timeoutSeconds: state.dropTimeoutSeconds,
                intervalMs: pollIntervalMs,
                timedOut: () =>
                    new Error(
                        `CNPG has not dropped ${roleNames.join(", ")} within ${state.dropTimeoutSeconds}s; the entries stay with ensure: absent. ` +
                            `Check the Cluster's status.managedRolesStatus (a role that still owns objects cannot be dropped), then re-run.`,
                    ),
            });
        }
        const removal = computeRoleRemovalPatch(await api.get(), roleNames);
        if (removal.length > 0) await api.jsonPatch(removal);
    }

    return {
        async create(inputs: RolePatchState) {
            const outs = await apply(inputs);
            return { id: idOf(outs), outs };
        },
        async read(id: string, props: RolePatchState) {
            const live = await (await connect(props)).get();
            return { id, props: { ...props, liveRoles: readRoleEntries(live, names(props)), foreignOwners: foreignRoleOwners(live, props.fieldManager) } };
        },
        async diff(_id: string, olds: RolePatchState, news: RolePatchState) {
            const replaces = (["namespace", "clusterName"] as const).filter((k) => olds[k] !== news[k]);
            const live = olds.liveRoles ?? [];
            const drifted = news.roles.some((role) => !sameRole(live.find((r) => r["name"] === role.name), role));
            const gone = names(olds).some((n) => !names(news).includes(n));
            // A new drop timeout is stored by the next `up`, so a later destroy waits as the stack now says.
            const timeout = olds.dropTimeoutSeconds !== news.dropTimeoutSeconds;
            return { changes: replaces.length > 0 || drifted || gone || timeout, replaces, deleteBeforeReplace: true };
        },
        async update(_id: string, olds: RolePatchState, news: RolePatchState) {
            const dropped = names(olds).filter((n) => !names(news).includes(n));
            if (dropped.length > 0) await remove({ ...olds, dropTimeoutSeconds: news.dropTimeoutSeconds }, dropped);
            return { outs: await apply(news) };
        },
        async delete(_id: string, props: RolePatchState) {
            await remove(props, names(props));
        },
    };
}

export interface ClusterRolePatchArgs {
    access: ClusterAccessSpec;
    roles: CnpgRoleFields[];
    dropTimeoutSeconds: number;
}

export class ClusterRolePatch extends pulumi.dynamic.Resource {
    declare public readonly liveRoles: pulumi.Output<Record<string, unknown>[]>;
    declare public readonly foreignOwners: pulumi.Output<string[]>;

    constructor(name: string, args: ClusterRolePatchArgs, opts?: pulumi.CustomResourceOptions) {
        const inputs = {
            ...withSecretKubeconfig(args.access),
            roles: args.roles,
            dropTimeoutSeconds: args.dropTimeoutSeconds,
            liveRoles: undefined,
            foreignOwners: undefined,
        };
        super(rolePatchProvider(kubeSharedClusterApi), name, inputs, opts, "synergyflow-db", "ClusterRolePatch");
    }
}
