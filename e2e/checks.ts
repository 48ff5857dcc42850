// The e2e's checks: one line each with its wall time, failures collected (the run goes on), skips by name.
export const results: { name: string; ok: boolean; detail?: string }[] = [];
export const skipped: string[] = [];

export async function check(name: string, body: () => Promise<void> | void): Promise<boolean> {
    const started = Date.now();
    try {
        await body();
        results.push({ name, ok: true });
        // Each check's wall time: the engine's preview, up, no-change up, refresh and destroy among them.
        console.log(`ok   ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
        return true;
    } catch (error) {
        results.push({ name, ok: false, detail: String((error as Error).message ?? error) });
        console.log(`FAIL ${name}\n     ${String((error as Error).message ?? error).split("\n").join("\n     ")}`);
        return false;
    }
}

/** A check that needs a controller that is not built: skipped by name, never reported as passed. */
export function skip(name: string, why: string): void {
    skipped.push(name);
    console.log(`skip ${name} (${why})`);
}

export function assert(condition: unknown, message: string): asserts condition {
    if (!condition) throw new Error(message);
}

/** The message an engine operation fails with; throws when it succeeds (`what` names it). */
export async function failureOf(what: string, operation: () => Promise<unknown>): Promise<string> {
    try {
        await operation();
    } catch (error) {
        return String((error as Error).message);
    }
    throw new Error(`expected ${what} to fail`);
}

/** Thrown by a probe, ends the poll at once (what it waits for can no longer come). */
export class StopPolling extends Error {}

/**
 * The e2e's one poll (the node's smoke scripts use it too): `probe` until it gives a value; a probe that throws
 * counts as "not yet", unless it throws StopPolling. On timeout it says the last error and, with `describe`, what
 * it sees then.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60000, describe?: () => Promise<string>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
        try {
            const value = await probe();
            if (value !== undefined) return value;
        } catch (error) {
            if (error instanceof StopPolling) throw error;
            last = error;
        }
        if (Date.now() > deadline) {
            const state = describe ? await describe().catch((e) => `(state unreadable: ${e.message})`) : "";
            throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}${state ? `; ${state}` : ""}`);
        }
        await new Promise((r) => setTimeout(r, 250));
    }
}
