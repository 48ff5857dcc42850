// The statistics both benchmarks report (integration/bench.ts on host processes, e2e/benchNodes.ts on the nodes).

export const median = (values: number[]) => {
    const sorted = [...values].filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length === 0 ? NaN : sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** The value at fraction `p` of an ascending list. */
export const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

/** One run of a path: what both benchmarks measure. */
export interface LatencySample {
    requestsPerSecond: number;
    p50Ms: number;
    p95Ms: number;
    p99Ms: number;
    failed: number;
    firstError: string;
    /** Peak server connections of the path's role(s) in PostgreSQL. */
    serverConnections: number;
}

/** The medians of the runs (failures summed, the first error kept): a row of the tables. */
export function latencySummary(samples: LatencySample[]): LatencySample {
    const m = (f: (s: LatencySample) => number) => median(samples.map(f));
    return {
        requestsPerSecond: m((s) => s.requestsPerSecond),
        p50Ms: m((s) => s.p50Ms),
        p95Ms: m((s) => s.p95Ms),
        p99Ms: m((s) => s.p99Ms),
        serverConnections: m((s) => s.serverConnections),
        failed: samples.reduce((a, s) => a + s.failed, 0),
        firstError: samples.map((s) => s.firstError).find(Boolean) ?? "",
    };
}
