// The one way this program waits on a cluster: ask, and ask again every interval until the answer is there or the
// time is up, then fail with what is still missing (never a silent pass).

/**
 * Calls `check` until it returns a value (anything but undefined), at most `timeoutSeconds` (0: once);
 * then throws `timedOut()` (which may say what the last check saw).
 */
export async function pollUntil<T>(check: () => Promise<T | undefined>, options: { timeoutSeconds: number; intervalMs: number; timedOut: () => Error }): Promise<T> {
    const deadline = Date.now() + options.timeoutSeconds * 1000;
    for (;;) {
        const value = await check();
        if (value !== undefined) return value;
        if (Date.now() >= deadline) throw options.timedOut();
        await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
    }
}
