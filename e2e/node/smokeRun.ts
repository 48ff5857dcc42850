// What both node smoke scripts (smoke.ts, cnpgSmoke.ts) share: a step timer (the e2e's checks use it too) and the end of a run: the host compared with its snapshot from before, the logs kept only on a failure.
import * as fs from "node:fs";
import * as path from "node:path";
import { type HostSnapshot, diffSnapshots, hostSnapshot } from "./hostState";

/** Each step's time, printed as it ends (after `indent`) and kept for the summary line. */
export function stepTimer(indent = ""): { times: Record<string, number>; timed: <T>(what: string, body: () => Promise<T>) => Promise<T> } {
    const times: Record<string, number> = {};
    const timed = async <T>(what: string, body: () => Promise<T>): Promise<T> => {
        const start = Date.now();
        try {
            return await body();
        } finally {
            times[what] = Date.now() - start;
            console.log(`${indent}${what}: ${((Date.now() - start) / 1000).toFixed(1)}s`);
        }
    };
    return { times, timed };
}

/** The end of a smoke run: the host diff, the failure, the times; the work dir removed unless kept for its logs. Exit code. */
export function finishSmoke(before: HostSnapshot, failure: unknown, times: Record<string, number>, work: string): number {
    const diff = diffSnapshots(before, hostSnapshot());
    console.log(diff.length ? `host state differs:\n${diff.join("\n")}` : "host state: identical before and after");
    if (failure) console.error(`FAILED: ${(failure as Error).stack ?? failure}`);
    console.log(`times (ms): ${JSON.stringify(times)}`);
    if (!failure && diff.length === 0) fs.rmSync(work, { recursive: true, force: true });
    else {
        fs.writeFileSync(path.join(work, "keep"), "");
        console.log(`logs kept in ${work}`);
    }
    return failure || diff.length ? 1 : 0;
}

/** Runs a smoke script's main and exits with its code (1 on a throw). */
export function runSmoke(main: () => Promise<number>): void {
    main().then(
        (code) => process.exit(code),
        (e) => {
            console.error(e);
            process.exit(1);
        },
    );
}
