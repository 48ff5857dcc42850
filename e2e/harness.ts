// What a run on the e2e's environment needs around it (test:e2e, bench:nodes): the toolchain, a work folder, a
// registry of everything it starts, and the stop of all of it at the end and on a signal, with the host compared
// to how it was before (DESIGN §7: what the nodes change must be back).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type ControllerBinaries, type RunningController, findControllers } from "./controllers";
import { type ApiServer, type Toolchain, findToolchain } from "./controlPlane";
import type { OpenBao } from "./openbao";
import type { RunningNode } from "./node/node";
import { diffSnapshots, hostSnapshot } from "./node/hostState";

/** Everything a run started, stopped in reverse order of dependence. */
export interface Started {
    servers: ApiServer[];
    controllers: RunningController[];
    nodes: RunningNode[];
    bao?: OpenBao;
}

export interface HarnessRun {
    toolchain: Toolchain;
    binaries: ControllerBinaries;
    work: string;
    started: Started;
}

export interface HarnessEnd {
    /** Whether a node ran (then the host is compared). */
    nodesRan: boolean;
    /** What the nodes' stop reported, and how the host differs from before the run (both empty: as found). */
    nodeProblems: string[];
    hostDiff: string[];
    /** The body's error, if it threw. */
    error?: unknown;
}

/**
 * Runs `body` with a fresh registry; whatever it registered is stopped afterwards, also when it throws or a signal
 * (a CI timeout, ^C) arrives. Undefined when the toolchain is not built (`what` says what is skipped).
 */
export async function withHarness(what: string, body: (run: HarnessRun) => Promise<void>): Promise<HarnessEnd | undefined> {
    const { toolchain, missing } = findToolchain();
    if (!toolchain) {
        console.log(`${what} skipped: the real-engine toolchain is not built on this machine (missing: ${missing.join(", ")}); build it with e2e/toolchain/build-all.sh (tens of minutes)`);
        return undefined;
    }
    const { binaries, missing: missingControllers } = findControllers(path.dirname(toolchain.bin));
    for (const piece of missingControllers) console.log(`missing: ${piece}: the parts that need it are skipped by name`);
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-e2e-"));
    const started: Started = { servers: [], controllers: [], nodes: [] };
    const hostBefore = hostSnapshot();
    // Each stage settles whatever the others do: one controller that fails to stop must not keep the API servers alive.
    const nodeProblems: string[] = [];
    const stopEverything = async () => {
        await Promise.allSettled(started.controllers.map((c) => c.stop()));
        await Promise.allSettled([started.bao?.stop()]);
        for (const result of await Promise.allSettled(started.nodes.map((node) => node.stop()))) if (result.status === "rejected") nodeProblems.push(String(result.reason));
        await Promise.allSettled(started.servers.map((server) => server.stop()));
    };
    // A closed stdout (the parent gone) must not crash the cleanup below.
    process.stdout.on("error", () => undefined);
    // Nothing it started may keep listening for the next run (controlPlane.ts also kills whatever is left when this
    // process exits). The signal often comes twice (to the process group, and forwarded by npm): a second one must
    // not kill the process before its cleanup has run.
    let stopping = false;
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
        process.on(signal, () => {
            if (stopping) return;
            stopping = true;
            console.log(`\n${signal}: stopping the servers and controllers`);
            void stopEverything().finally(() => process.exit(1));
        });
    }
    let error: unknown;
    try {
        await body({ toolchain, binaries, work, started });
    } catch (thrown) {
        error = thrown;
    } finally {
        await stopEverything();
    }
    const nodesRan = started.nodes.length > 0;
    const hostDiff = nodesRan ? diffSnapshots(hostBefore, hostSnapshot()) : [];
    return { nodesRan, nodeProblems, hostDiff, ...(error === undefined ? {} : { error }) };
}
