// Password rotation through the real engine, External Secrets and OpenBao (CNPG's password status from the real
// instance manager on the node, or played by cnpgOperator.ts without it): three rotations in a row, each leaving
// every Secret and the pod template on the same (login role, Vault version); then one rotation interrupted after
// each step of ROTATION_ORDER in turn (a controller held back, the apps API server refusing the Deployment's
// update, a stalled rollout), each re-run resuming it, never regenerating the login role in use.
import type { Stack } from "@pulumi/pulumi/automation";
import type { StackConfig } from "../components/model/config";
import { CREDENTIALS_ANNOTATION, CREDENTIAL_SLOTS, type CredentialSlot, POD_CREDENTIALS_ANNOTATION, ROTATION_ANNOTATIONS, credentialsVersion, loginCredentials, loginRoleOf } from "../components/model/rotation";
import { execFileSync } from "node:child_process";
import { StopPolling, assert, check, failureOf, until } from "./checks";
import type { Holdable, RunningController } from "./controllers";
import { type ApiServer, kubeRequest, refuseWrites } from "./controlPlane";
import type { OpenBao } from "./openbao";

export interface RotationContext {
    stack: Stack;
    /** The engine's output so far (the e2e's onOutput appends to it). */
    output: string[];
    infra: ApiServer;
    apps: ApiServer;
    bao: OpenBao;
    config: StackConfig;
    onOutput: (text: string) => void;
    /** The controllers a rotation step waits for, each of which the test holds back in turn. */
    esoInfra: RunningController;
    esoApps: RunningController;
    /** CNPG's password status: the played one, or the real instance manager refused its status writes. */
    cnpg: Holdable;
    /** Held, the backend's new pods never become Ready (a rollout that does not finish): kwok, or with the apps node its scheduler. */
    appsPodsHold: RunningController;
    load?: RolloutLoad;
    /** Requests to the backend's pods while they roll (appsNode.ts, on the apps node). */
    traffic?: BackendTraffic;
}

export interface BackendTraffic {
    serve(): {
        /** The login roles the backend's ready pods run on now. */
        rolesNow(): Promise<string[]>;
        /** Stops the requests; what they got. */
        finish(): Promise<{ ok: number; failed: number; byRole: Record<string, number>; errors: string[]; failedLogins: number; failedBorrows: number; pods: number }>;
    };
}

/**
 * Clients that keep the backend's kind of load on through the rotations (dataPlane.ts, on the real node), as the
 * backend's pods: one on the credentials before the first rotation; after each, a new one on the new credentials,
 * and then the older one stops (the rollout replaces its pods only once the new ones run).
 */
export interface RolloutLoad {
    /** Starts a client on the backend's current credentials and stops the one before it, if any. */
    rollOut(): Promise<void>;
    /** Stops the last client; one line per client; throws naming any failed transaction, login or borrow. */
    finish(): Promise<string>;
}

/** Seconds each evidence wait gives a held-back controller before `up` fails (the stack's evidenceTimeoutSeconds). */
const HELD_TIMEOUT_SECONDS = 6;

export async function rotationChecks(ctx: RotationContext): Promise<void> {
    const { stack, infra, apps, bao, config, onOutput, output } = ctx;
    const logins = loginCredentials(config.tenant);
    const { kvMount, keyPrefix } = config.vault;
    const ns = { infra: config.sharedCluster.namespace, apps: config.backend.namespace };
    const vaultVersion = async (slot: CredentialSlot) => (await bao.readKv(kvMount, `${keyPrefix}/${logins[slot].vaultName}`))!.version;
    const get = (server: ApiServer, path: string) => kubeRequest(server, "GET", path);
    const secretPair = async (server: ApiServer, namespace: string, name: string) => (await get(server, `/api/v1/namespaces/${namespace}/secrets/${name}`)).metadata.annotations?.[CREDENTIALS_ANNOTATION] as string | undefined;
    const deploymentPath = `/apis/apps/v1/namespaces/${ns.apps}/deployments/${config.backend.deploymentName}`;
    const podsPair = async () => (await get(apps, deploymentPath)).spec.template.metadata.annotations[POD_CREDENTIALS_ANNOTATION] as string;
    const slotOf = (pair: string) => CREDENTIAL_SLOTS.find((slot) => logins[slot].roleName === loginRoleOf(pair)) as CredentialSlot;
    /** Pods of the backend on another pair than the template's, stopping ones included (the program refuses to rotate while any runs). */
    const olderPods = async () => {
        const template = await podsPair();
        return ((await get(apps, `/api/v1/namespaces/${ns.apps}/pods`)).items as any[]).filter((pod) => pod.metadata.annotations?.[POD_CREDENTIALS_ANNOTATION] && pod.metadata.annotations[POD_CREDENTIALS_ANNOTATION] !== template);
    };
    const rotate = async (value: string) => stack.setConfig("synergyflow-db:tenant.passwordRotation", { value }, true);
    /** A new rotation as an operator starts one: once the last rollout's older pods are gone (they drain a few seconds). */
    const rotateAfterRollout = async (value: string) => {
        await until("the older backend pods to stop", async () => ((await olderPods()).length === 0 ? true : undefined), 90000);
        await rotate(value);
    };
    const up = async () => stack.up({ onOutput });
    const failingUp = () => failureOf("up", () => stack.up({ onOutput }));

    /** What every Secret and the pods name after a finished run: each login role's own pair, the backend's on one. */
    const consistent = async (): Promise<CredentialSlot> => {
        const pods = await podsPair();
        const active = slotOf(pods);
        for (const slot of CREDENTIAL_SLOTS) {
            const expected = credentialsVersion(logins[slot].roleName, String(await vaultVersion(slot)));
            const held = await secretPair(infra, ns.infra, logins[slot].passwordSecretName);
            assert(held === expected, `login role ${slot}'s Secret holds ${held}, Vault has ${expected}`);
        }
        const backendSecret = await secretPair(apps, ns.apps, config.backend.credentialsSecretName);
        const expected = credentialsVersion(logins[active].roleName, String(await vaultVersion(active)));
        assert(backendSecret === expected && pods === expected, `the backend's Secret holds ${backendSecret}, its pods run on ${pods}, Vault has ${expected}`);
        const record = (await get(apps, `/apis/external-secrets.io/v1/namespaces/${ns.apps}/externalsecrets/${config.backend.credentialsSecretName}`)).metadata.annotations;
        assert(record[ROTATION_ANNOTATIONS.loginRole] === logins[active].roleName, `the backend's record names ${record[ROTATION_ANNOTATIONS.loginRole]}, the pods ${logins[active].roleName}`);
        return active;
    };

    const underLoad = ctx.load ? "; under load from PgJDBC + HikariCP clients through the Pooler, one per rollout, the older still running: 0 failed transactions, logins or borrows" : "";
    const serving = ctx.traffic ? "; the backend's pods on the apps node serve requests throughout: 0 failed, each rollout's pods on the new login role" : "";
    await check(`three more rotations in a row: each regenerates only the idle login role; after each, both Secrets and the pod template name the same (role, Vault version)${underLoad}${serving}`, async () => {
        const lines: string[] = [];
        await ctx.load?.rollOut();
        const traffic = ctx.traffic?.serve();
        try {
            for (const value of ["3", "4", "5"]) {
                const inUse = await consistent();
                const before = { a: await vaultVersion("a"), b: await vaultVersion("b") };
                await rotateAfterRollout(value);
                const started = Date.now();
                await up();
                const active = await consistent();
                const idle = inUse === "a" ? "b" : "a";
                assert(active === idle, `rotation ${value}: the backend is on ${active}, expected the idle ${idle}`);
                assert((await vaultVersion(inUse)) === before[inUse], `rotation ${value}: the login role in use (${inUse}) got a new Vault version`);
                assert((await vaultVersion(idle)) === before[idle] + 1, `rotation ${value}: the idle login role (${idle}) did not get exactly one new Vault version`);
                lines.push(`${value}: ${await podsPair()} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
                if (traffic) {
                    // The EndpointSlices follow the rollout within a moment.
                    let roles: string[] = [];
                    await until(`rotation ${value}: the backend's ready pods on ${logins[active].roleName}`, async () => {
                        roles = await traffic.rolesNow();
                        return roles.length === 1 && roles[0] === logins[active].roleName ? true : undefined;
                    }, 15000).catch(() => assert(false, `rotation ${value}: the backend's ready pods run on ${roles.join(", ")}, expected ${logins[active].roleName}`));
                }
                await ctx.load?.rollOut();
            }
        } finally {
            const served = await traffic?.finish();
            if (served) {
                console.log(`     the backend served ${served.ok} requests (${Object.entries(served.byRole).map(([role, n]) => `${role} ${n}`).join(", ")}), ${served.failed} failed${served.errors.length ? `: ${served.errors.join("; ")}` : ""}; its ${served.pods} pods counted ${served.failedLogins} failed logins and ${served.failedBorrows} failed borrows`);
                assert(served.failed === 0 && served.failedLogins === 0 && served.failedBorrows === 0, `during the rotations: ${served.failed} requests to the backend failed (${served.errors.join("; ")}), ${served.failedLogins} logins, ${served.failedBorrows} borrows`);
            }
        }
        console.log(`     ${lines.join("; ")}`);
        if (ctx.load) console.log(`     ${await ctx.load.finish()}`);
    });

    // One rotation interrupted after each step of ROTATION_ORDER in turn: each re-run resumes it and stops one step
    // further (a controller held back, the apps API server refusing the Deployment's update, a rollout that stalls),
    // and the last re-run finishes it. Across all of them the login role the pods run on keeps its password and the
    // idle one gets exactly one new Vault version: no re-run regenerates what an earlier one wrote.
    const ROTATION = "6";
    let chain: { inUse: CredentialSlot; idle: CredentialSlot; before: Record<CredentialSlot, number> } | undefined;
    /** After a run that stopped before the rollout: Vault and the pods as the chain expects. */
    const unchangedButIdle = async (run: string) => {
        const { inUse, idle, before } = chain!;
        assert((await vaultVersion(inUse)) === before[inUse], `${run} regenerated the login role in use (${inUse})`);
        const idleVersions = (await vaultVersion(idle)) - before[idle];
        assert(idleVersions === 1, `after ${run} the idle login role (${idle}) has ${idleVersions} new Vault versions, expected exactly 1`);
    };
    // Each step's hold goes on before the previous one comes off: a controller released acts on its own (ESO syncs
    // the infra Secret, the instance manager then applies and reports it), and must find the next one held already.
    let releasePrevious: (() => Promise<void> | void) | undefined;
    const releaseHeld = async () => {
        const release = releasePrevious;
        releasePrevious = undefined;
        await release?.();
    };
    const interrupted = (step: string, how: string, hold: () => Promise<void> | void, release: () => Promise<void> | void, expectInError: string, whileHeld?: () => Promise<void>) =>
        check(`rotation ${ROTATION} ${chain ? "re-run, " : ""}interrupted after step ${step} (${how}): up fails there; the login role in use keeps its password, the idle one has exactly one new Vault version; the pods stay on the login role in use`, async () => {
            if (!chain) {
                const inUse = await consistent();
                const before = { a: await vaultVersion("a"), b: await vaultVersion("b") };
                await rotateAfterRollout(ROTATION);
                chain = { inUse, idle: inUse === "a" ? "b" : "a", before };
            }
            await hold();
            try {
                await releaseHeld();
            } finally {
                releasePrevious = release;
            }
            const message = await failingUp();
            assert(message.includes(expectInError), `up failed, but not at ${step}: ${message.slice(-600)}`);
            await unchangedButIdle(`the run interrupted after ${step}`);
            assert(slotOf(await podsPair()) === chain!.inUse, "the pods moved although the run stopped before the rollout");
            await whileHeld?.();
        });

    await stack.setConfig("synergyflow-db:evidenceTimeoutSeconds", { value: String(HELD_TIMEOUT_SECONDS) });
    try {
        // vault: the new password is in OpenBao, the infra ExternalSecret cannot sync it.
        await interrupted("vault", "External Secrets held on infra", () => ctx.esoInfra.pause(), () => ctx.esoInfra.resume(), "External Secrets has not synced it yet");
        // infraSecret: synced, but CNPG does not apply it.
        // Released, the instance manager reports on its own schedule (its status writes were refused while held,
        // and its retries back off): the next run starts once the evidence is there, as an operator's re-run would.
        const cnpgReported = async () => {
            const secret = await get(infra, `/api/v1/namespaces/${ns.infra}/secrets/${logins[chain!.idle].passwordSecretName}`);
            const cluster = await get(infra, `/apis/postgresql.cnpg.io/v1/namespaces/${ns.infra}/clusters/${config.sharedCluster.name}`);
            return cluster.status?.managedRolesStatus?.passwordStatus?.[logins[chain!.idle].roleName]?.resourceVersion === secret.metadata.resourceVersion ? true : undefined;
        };
        await interrupted(
            "infraSecret",
            "CNPG's password status held",
            () => ctx.cnpg.pause(),
            async () => {
                await ctx.cnpg.resume();
                await until("CNPG to report the idle login role's new password", cnpgReported, 120000);
            },
            "CNPG has not applied Secret",
        );
        // postgres: PostgreSQL has it, the backend's ExternalSecret cannot sync.
        await interrupted("postgres", "External Secrets held on apps", () => ctx.esoApps.pause(), () => ctx.esoApps.resume(), "backend credentials synced: no evidence");
        // appsSecret: the backend's Secret moved; the apps API server refuses the Deployment's update.
        let frozen: { lift(): Promise<void> } | undefined;
        await interrupted(
            "appsSecret",
            "the apps API server refuses the Deployment's update; a new value is refused meanwhile",
            async () => {
                frozen = await refuseWrites(apps, "synergyflow-e2e-freeze-backend", {
                    rules: [{ apiGroups: ["apps"], resources: ["deployments"] }],
                    expression: `object.metadata.name != '${config.backend.deploymentName}'`,
                    message: "frozen by the e2e: the run stops before the rollout",
                    probe: () => kubeRequest(apps, "PATCH", `${deploymentPath}?dryRun=All`, {}, "application/merge-patch+json"),
                });
            },
            () => frozen?.lift(),
            "frozen by the e2e",
            async () => {
                // The record is ahead of the pods, and only this rotation may finish it.
                await rotate(String(Number(ROTATION) + 1));
                const refused = await failureOf("the preview", () => stack.preview({ onOutput }));
                await rotate(ROTATION);
                assert(refused.includes("still run on"), `a new rotation while the record is ahead of the pods was not refused: ${refused.slice(-400)}`);
            },
        );
    } finally {
        // Nothing on the apps side changes the Deployment but the program: the backend step's hold may follow the lift.
        await releaseHeld();
        await stack.removeConfig("synergyflow-db:evidenceTimeoutSeconds");
    }
    // backend: the pod template names the new pair, but the rollout does not finish (the apps cluster's new pods held:
    // no new pod becomes Ready; a progress deadline of a few seconds makes the Deployment controller, and so
    // Pulumi's await, give up). The older pods still run on the login role in use: a new value is refused until
    // the rollout completes, and the same value finishes it.
    // The re-run that finishes it: a pod that stops is no longer counted by the Deployment's status, but still serves
    // and logs in while it drains; a finalizer keeps one older pod stopping, and the preview must refuse the next
    // rotation, naming it.
    const HOLD_STOPPING = "e2e.synergyflow-db/hold-stopping";
    const podPath = (name: string) => `/api/v1/namespaces/${ns.apps}/pods/${name}`;
    await check(`rotation ${ROTATION} re-run, interrupted after step backend (the rollout does not finish): the pod template moved; a new value is refused while older pods run; the login role in use keeps its password; the next re-run finishes the rotation on the idle login role, and while one older pod is still stopping (the Deployment's status no longer counts it) a new value is refused naming the pod`, async () => {
        assert(chain, "the rotation's earlier runs did not start it");
        const { inUse, idle } = chain;
        const deadline = [{ op: "add", path: "/spec/progressDeadlineSeconds", value: 5 }];
        await kubeRequest(apps, "PATCH", deploymentPath, deadline, "application/json-patch+json");
        let held: string | undefined;
        try {
            ctx.appsPodsHold.pause();
            let message: string;
            try {
                // Pulumi's Deployment await only warns on ProgressDeadlineExceeded and would wait out its own 10
                // minutes: the run is cancelled there (SIGINT to the CLI, as CI cancelling a job does). The watch
                // ends with the run, so that it can never signal a later one.
                const from = output.length;
                let upEnded = false;
                const stalled = until("the rollout to stall", async () => {
                    if (output.slice(from).join("").includes("[ProgressDeadlineExceeded]")) return true;
                    if (upEnded) throw new StopPolling("up ended before the rollout stalled");
                    return undefined;
                }, 120000).then(() => execFileSync("pkill", ["-INT", "-f", "bin/pulumi up .*--stack local"]));
                stalled.catch(() => undefined);
                try {
                    message = await failureOf("up", () => stack.up({ onOutput }));
                } finally {
                    upEnded = true;
                }
                await stalled;
                assert(slotOf(await podsPair()) === idle, "the pod template did not move before the rollout stalled");
                try {
                    await rotate(String(Number(ROTATION) + 1));
                    const refused = await failureOf("the preview", () => stack.preview({ onOutput }));
                    assert(refused.includes("has not finished the last one"), `a new rotation during an unfinished rollout was not refused: ${refused.slice(-400)}`);
                } finally {
                    await rotate(ROTATION);
                }
                // One of the older pods, held before the new ones may start (the rollout then deletes it).
                held = (await olderPods()).find((pod) => !pod.metadata.deletionTimestamp)?.metadata.name;
                assert(held, "no older backend pod to hold");
                await kubeRequest(apps, "PATCH", podPath(held), { metadata: { finalizers: [HOLD_STOPPING] } }, "application/merge-patch+json");
            } finally {
                ctx.appsPodsHold.resume();
            }
            assert(/ProgressDeadlineExceeded|cancel|interrupt/i.test(message), `up failed, but not at the rollout: ${message.slice(-600)}`);
            await unchangedButIdle("the run interrupted after backend");
            await stack.up({ onOutput });
            await unchangedButIdle("the last re-run");
            assert((await consistent()) === idle, `after the last re-run the backend is not on ${idle} (it was on ${inUse})`);
            const stopping = held;
            await until(`${stopping} stopping`, async () => ((await get(apps, podPath(stopping))).metadata.deletionTimestamp ? true : undefined), 60000);
            try {
                await rotate(String(Number(ROTATION) + 1));
                const refused = await failureOf("the preview", () => stack.preview({ onOutput }));
                assert(refused.includes("has not finished the last one") && / of them stopping\)/.test(refused) && refused.includes(stopping), `a rotation with an older pod stopping was not refused naming it: ${refused.slice(-600)}`);
            } finally {
                await rotate(ROTATION);
            }
        } finally {
            if (held) await kubeRequest(apps, "PATCH", podPath(held), { metadata: { finalizers: null } }, "application/merge-patch+json").catch(() => undefined);
            // The Deployment's default again (the program does not set it, so its applies leave it as patched).
            await kubeRequest(apps, "PATCH", deploymentPath, [{ op: "replace", path: "/spec/progressDeadlineSeconds", value: 600 }], "application/json-patch+json");
        }
    });
    // And a run stopped after the rollout completed has nothing left to do.
    await check("after the last step (backend), the same rotation again changes nothing and regenerates nothing", async () => {
        const before = { a: await vaultVersion("a"), b: await vaultVersion("b") };
        await stack.up({ expectNoChanges: true, onOutput });
        assert((await vaultVersion("a")) === before.a && (await vaultVersion("b")) === before.b, "a Vault version changed");
        await consistent();
    });
}
